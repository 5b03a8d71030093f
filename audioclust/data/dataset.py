"""A torch Dataset of fixed-length waveforms, one per indexed sample (file window).

Windows of long files read in order (the validation loop) come out of one decoded,
resampled chunk of the file (`Chunks`), so each file is read once, sequentially, instead of once per window;
out-of-order requests (shuffled training) decode each window on its own. The embedding loop (every rank of a DDP
predict too) reads on a fixed grid instead (`Chunks` grid): a window's samples then do not depend on which windows
were asked for before it (one process or a DDP rank's share, a first run or a resumed one, a sample of the rows).
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from audioclust.data.audio import fit_length, load_chunk, trim_silence
from audioclust.data.index import Index
from audioclust.errors import DataError

log = logging.getLogger(__name__)
GRID_SECONDS = 10.0   # the embedding loop's grid (Chunks grid=True): where a file's resampling may start


class Chunks:
    """The current chunk of one file (decoded, resampled), out of which consecutive windows are cut.

    A window is cut from the chunk when it lies inside it. A new chunk, `seconds` long plus one window, starting
    at the requested window, is decoded only when the last two requests each followed the one before closely in
    the same file (at most `near` = max(2 clips, seconds / 10) later: the next window, a DDP rank's stride; a loader
    worker's jump to its next batch usually lands inside the current chunk), so shuffled training almost never
    decodes a chunk for one window; anything else is left to a per-window decode (`window` returns None). Both are
    `load_chunk`, so a window is the same either way to about 1e-8 where the file is resampled (the resampler's
    output depends on where its input starts, a little).

    grid=True (the embedding loop; `seconds` unused): the file's resampling starts only at the cells of a fixed grid,
    GRID_SECONDS apart, and every window is cut from a stretch decoded from the start of the cell its start falls
    in: the whole cell plus one window where the requests run in order, else only up to the window's end (a lone
    window costs at most a cell more). A stretch's first samples do not depend on how far it goes, so a window's
    samples are a function of the file and its offset alone, bit for bit, whatever was asked before it (a model's
    front end can amplify 1e-8 in near-silence: BirdNET's changed by up to 0.016)."""

    def __init__(self, sr: int, clip_seconds: float, seconds: float = 60.0, grid: bool = False):
        self.sr, self.n, self.seconds, self.grid = sr, int(round(sr * clip_seconds)), seconds, grid
        self.near = max(2 * clip_seconds, seconds / 10)
        self.path, self.first, self.ended, self.x = None, 0, False, np.zeros(0, np.float32)
        self.last: tuple[str, float] | None = None
        self.run = 0     # requests in a row that each followed the one before closely in the same file
        self.loads = 0   # chunks decoded so far

    def window(self, path: str, offset: float) -> np.ndarray | None:
        """The window of `path` at `offset` seconds from the current chunk (decoding the next one when the
        request is sequential), or None: decode it on its own."""
        last, self.last = self.last, (path, offset)
        close = last is not None and last[0] == path and 0 <= offset - last[1] <= self.near
        self.run = self.run + 1 if close else 0
        if self.grid:
            return self._on_grid(path, offset)
        if self.seconds <= 0:
            return None
        i = int(round(offset * self.sr)) - self.first
        if path != self.path or i < 0 or (i + self.n > len(self.x) and not self.ended):
            if self.run < 2:
                return None
            self.x, self.first, self.ended = load_chunk(path, self.sr, offset, self.seconds + self.n / self.sr)
            self.path, i = path, 0
            self.loads += 1
        return self.x[i: i + self.n]

    def _on_grid(self, path: str, offset: float) -> np.ndarray:
        """The window cut out of a stretch decoded from the start of its grid cell (decoded when the current one
        does not hold it: the whole cell plus a window for requests in order, else up to this window's end)."""
        at, step = int(round(offset * self.sr)), int(round(GRID_SECONDS * self.sr))
        first = at // step * step
        if path != self.path or first != self.first or (at - first + self.n > len(self.x) and not self.ended):
            upto = step + self.n if self.run else at - first + self.n
            self.x, self.first, self.ended = load_chunk(path, self.sr, first / self.sr, upto / self.sr)
            self.path = path
            self.loads += 1
        return self.x[at - first: at - first + self.n]


class ClipDataset(Dataset):
    def __init__(self, index: Index, sample_ids, sr: int, trim_db: float | None = None,
                 cache_mb: float = 0, chunk_seconds: float = 60.0, grid: bool = False):
        """The index's samples as clips of its windowing's read length at `sr` (the clip, or the encoder's native
        length where longer: Windowing.read_start says where each is read from).
        cache_mb > 0: keep decoded clips (float32) in memory up to that many MB, so that every epoch after the
        first skips decoding, trimming and resampling (each DataLoader worker holds its own cache).
        chunk_seconds > 0: windows of a file requested in order are cut out of chunks of this many seconds
        (plus one clip) decoded in one go (`Chunks`); 0: every window is decoded on its own.
        grid: every window decoded from the start of its cell of a fixed grid (Chunks: the embedding loop, which
        chunk_seconds does not change)."""
        self.index = index
        self.sample_ids = np.asarray(sample_ids, np.int64)
        self.sr = sr
        self.read_seconds = index.windowing.read_seconds
        self.n = int(round(sr * self.read_seconds))
        self.trim_db = trim_db
        self.cache, self.cache_left = {}, int(cache_mb * 2 ** 20)
        self.failed: set[str] = set()   # files a window of which could not be decoded (said once each)
        self.chunks = Chunks(sr, self.read_seconds, chunk_seconds, grid)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, i: int) -> dict:
        sid = int(self.sample_ids[i])
        if sid in self.cache:
            wave, length, ok = self.cache[sid]
            return {"wave": torch.from_numpy(wave), "length": length, "sample_id": sid, "ok": ok}
        item = self._decode(sid)
        if self.cache_left >= item["wave"].numel() * 4:
            self.cache[sid] = (item["wave"].numpy(), item["length"], item["ok"])
            self.cache_left -= item["wave"].numel() * 4
        return item

    def _decode(self, sid: int) -> dict:
        path = self.index.files[self.index.file_ids[sid]]
        ok = True
        try:
            fid = int(self.index.file_ids[sid])
            offset = self.index.windowing.read_start(float(self.index.offsets[sid]), float(self.index.durations[fid]))
            x = self.chunks.window(path, offset)
            if x is None:   # on its own, the same way as a chunk (so the two agree), one window long
                x = load_chunk(path, self.sr, offset, self.read_seconds)[0]
            ok = x.size > 0
            if ok and self.trim_db:
                x = trim_silence(x, self.sr, self.trim_db)
        except DataError as exc:   # one line per file, not per window: a corrupt long file fails window after window
            if path not in self.failed:
                log.warning("%s (from %.1f s; its other windows that fail are left out without a line each)", exc,
                            float(self.index.offsets[sid]))
            self.failed.add(path)
            x, ok = np.zeros(0, np.float32), False
        wave = torch.from_numpy(np.ascontiguousarray(fit_length(x, self.n), dtype=np.float32))
        return {"wave": wave, "length": max(1, min(len(x), self.n)), "sample_id": sid, "ok": ok}
