"""A torch Dataset of fixed-length waveforms, one per indexed sample (file window)."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from audioclust.data.audio import fit_length, load, trim_silence
from audioclust.data.index import Index
from audioclust.errors import DataError

log = logging.getLogger(__name__)


class ClipDataset(Dataset):
    def __init__(self, index: Index, sample_ids, sr: int, clip_seconds: float, trim_db: float | None = None,
                 cache_mb: float = 0):
        """cache_mb > 0: keep decoded clips (float32) in memory up to that many MB, so that every epoch after the
        first skips decoding, trimming and resampling (each DataLoader worker holds its own cache)."""
        self.index = index
        self.sample_ids = np.asarray(sample_ids, np.int64)
        self.sr = sr
        self.clip_seconds = clip_seconds
        self.n = int(round(sr * clip_seconds))
        self.trim_db = trim_db
        self.cache, self.cache_left = {}, int(cache_mb * 2 ** 20)

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
            x = load(path, self.sr, float(self.index.offsets[sid]), self.clip_seconds)
            ok = x.size > 0
            if ok and self.trim_db:
                x = trim_silence(x, self.sr, self.trim_db)
        except DataError as exc:
            log.warning("%s", exc)
            x, ok = np.zeros(0, np.float32), False
        wave = torch.from_numpy(np.ascontiguousarray(fit_length(x, self.n), dtype=np.float32))
        return {"wave": wave, "length": max(1, min(len(x), self.n)), "sample_id": sid, "ok": ok}
