"""LightningDataModule over a folder of audio (or the embedded synthetic set)."""
from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from audioclust import checks
from audioclust.data.dataset import ClipDataset
from audioclust.data.index import build_index, split_files
from audioclust.data.labels import make_labeller
from audioclust.errors import ConfigError


class AudioDataModule(L.LightningDataModule):
    def __init__(self, root: str, sr: int = 16000, clip_seconds: float = 1.0, hop_seconds: float | None = None,
                 labels: dict | None = None, val_fraction: float = 0.1, batch_size: int = 64,
                 num_workers: int = 0, seed: int = 0, strict: bool = False, max_files: int | None = None,
                 synthetic: dict | None = None, n_clusters: int | None = None,
                 trim_db: float | None = None, cache_mb: float = 0):
        super().__init__()
        if not synthetic and root in (None, ""):
            raise ConfigError("data.root is not set: pass data.root=/path/to/clips")
        checks.number("data.sr", sr, integer=True)
        checks.number("data.clip_seconds", clip_seconds)
        checks.number("data.hop_seconds", hop_seconds, optional=True)
        checks.number("data.batch_size", batch_size, integer=True)
        checks.number("data.num_workers", num_workers, strict=False, integer=True)
        checks.number("data.max_files", max_files, integer=True, optional=True)
        checks.number("data.trim_db", trim_db, optional=True)
        checks.number("data.n_clusters", n_clusters, integer=True, optional=True)
        if not 0 <= checks.number("data.val_fraction", val_fraction, strict=False) < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        self.root, self.sr, self.clip_seconds, self.hop_seconds = root, sr, clip_seconds, hop_seconds
        self.labels = dict(labels or {})
        self.val_fraction, self.batch_size, self.num_workers = val_fraction, batch_size, num_workers
        self.seed, self.strict, self.max_files, self.synthetic = seed, strict, max_files, synthetic
        self.n_clusters, self.trim_db = n_clusters, trim_db  # the suggested k for cluster.py
        self.cache_mb = cache_mb
        self.index = None

    def prepare_data(self) -> None:
        if self.synthetic:
            self._data_root()

    def _data_root(self) -> str:
        if not self.synthetic:
            return self.root
        from audioclust.data.synthetic import generate
        return str(generate(self.root, sr=self.sr, duration=self.clip_seconds, **self.synthetic))

    def setup(self, stage: str | None = None) -> None:
        if self.index is not None:
            return
        labeller = make_labeller(**self.labels)
        self.index = build_index(self._data_root(), self.clip_seconds, self.hop_seconds, labeller,
                                 self.strict, self.max_files)
        train_files, val_files = split_files(len(self.index.files), self.val_fraction, self.seed)
        in_val = set(val_files.tolist())
        fids = self.index.file_ids
        self.train_ids = [i for i, f in enumerate(fids) if f not in in_val]
        self.val_ids = [i for i, f in enumerate(fids) if f in in_val]

    def _loader(self, ids, shuffle: bool, drop_last: bool = False) -> DataLoader:
        ds = ClipDataset(self.index, ids, self.sr, self.clip_seconds, self.trim_db, cache_mb=self.cache_mb)
        return DataLoader(ds, batch_size=min(self.batch_size, max(len(ds), 1)), shuffle=shuffle,
                          drop_last=drop_last, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ids, shuffle=True, drop_last=len(self.train_ids) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_ids, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(range(len(self.index)), shuffle=False)
