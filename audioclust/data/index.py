"""Index a folder: which files are usable, which windows of them are samples, which were skipped and why."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from audioclust.data.audio import list_audio_files, probe
from audioclust.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Index:
    files: list[str] = field(default_factory=list)       # usable files, sorted
    labels: list = field(default_factory=list)           # one label (or None) per usable file
    file_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # per sample
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # per sample, seconds
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)

    def __len__(self) -> int:
        return len(self.file_ids)


def window_offsets(duration: float, clip_seconds: float, hop_seconds: float | None) -> list[float]:
    """Start times of the windows of one file: one window when hop is None, else every hop seconds."""
    if hop_seconds is None or duration <= clip_seconds:
        return [0.0]
    n = int(np.floor((duration - clip_seconds) / hop_seconds)) + 1
    starts = [i * hop_seconds for i in range(n)]
    if duration - (starts[-1] + clip_seconds) > 1e-6:
        starts.append(duration - clip_seconds)  # the tail gets its own window, nothing is dropped
    return starts


def build_index(root, clip_seconds: float, hop_seconds: float | None = None, labeller=None,
                strict: bool = False, max_files: int | None = None) -> Index:
    """Probe every audio file under root; usable ones become samples, the rest are listed with a reason."""
    paths = list_audio_files(root)
    if not paths:
        raise DataError(f"no audio files found under {root} (looked for wav, flac, ogg, mp3, aiff, ...)")
    if max_files and max_files < len(paths):  # an evenly spread, deterministic subset
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_files).round().astype(int)]
    idx, fids, offs = Index(), [], []
    for path in tqdm(paths, desc="indexing", unit="file", leave=False, disable=None):  # None: no bar off a terminal
        try:
            info = probe(path)
        except DataError as exc:
            if strict:
                raise DataError(f"{path}: {exc} (data.strict=true)") from None
            idx.skipped.append((str(path), str(exc)))
            continue
        starts = window_offsets(info.frames / info.samplerate, clip_seconds, hop_seconds)
        fids += [len(idx.files)] * len(starts)
        offs += starts
        idx.files.append(str(path))
        idx.labels.append(labeller(path) if labeller else None)
    if not idx.files:
        reasons = "; ".join(f"{p}: {r}" for p, r in idx.skipped[:3])
        raise DataError(f"no readable audio under {root}: {len(idx.skipped)} files skipped ({reasons})")
    idx.file_ids, idx.offsets = np.asarray(fids, np.int64), np.asarray(offs, np.float64)
    if idx.skipped:
        log.warning("skipped %d of %d files (listed in the outputs)", len(idx.skipped), len(paths))
    return idx


def split_files(n_files: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of file ids (not windows, so that one file never lands in both)."""
    perm = np.random.default_rng(seed).permutation(n_files)
    n_val = int(round(n_files * val_fraction)) if n_files > 1 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and n_files > 1 else 0), n_files - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
