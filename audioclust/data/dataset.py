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
    def __init__(self, index: Index, sample_ids, sr: int, clip_seconds: float, trim_db: float | None = None):
        self.index = index
        self.sample_ids = np.asarray(sample_ids, np.int64)
        self.sr = sr
        self.clip_seconds = clip_seconds
        self.n = int(round(sr * clip_seconds))
        self.trim_db = trim_db

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, i: int) -> dict:
        sid = int(self.sample_ids[i])
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
