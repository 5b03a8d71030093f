"""Sharded embeddings: each predict rank writes its own shard (explicit sample ids); rank 0 merges them so
that every sample appears exactly once (distributed samplers may pad a rank with repeated samples).

Layout of a shard dir: shard-<rank>-of-<world>.<key>.npy per rank and key (embedding, sample_id, ok,
dec_cluster, voice), then after the merge <key>.npy (rows sorted by sample id) and shards.json. Read the merged
arrays memory-mapped with load_merged()."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter

from audioclust import io

KEYS = ("embedding", "sample_id", "ok", "dec_cluster", "voice", "power")


class ShardWriter(BasePredictionWriter):
    """Streams this rank's predictions to disk batch by batch (memory stays flat however many clips), then
    turns them into one .npy per key (header + the streamed rows, atomic) and waits for every rank."""

    def __init__(self, out_dir):
        super().__init__(write_interval="batch")
        self.out_dir, self.parts = Path(out_dir), {}

    def _stem(self, trainer) -> str:
        return f"shard-{trainer.global_rank:03d}-of-{trainer.world_size:03d}"

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0):
        for k, v in prediction.items():
            if k not in KEYS:
                continue
            arr = np.ascontiguousarray(v.detach().cpu().numpy())
            if k not in self.parts:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                path = self.out_dir / f".{self._stem(trainer)}.{k}.part"
                self.parts[k] = {"file": open(path, "wb"), "path": path, "rows": 0, "dtype": arr.dtype,
                                 "shape": arr.shape[1:]}
            part = self.parts[k]
            part["file"].write(arr.tobytes())
            part["rows"] += len(arr)

    def on_predict_epoch_end(self, trainer, pl_module):
        if not self.parts:  # a rank with no samples still leaves (empty) shards
            self.parts = {k: {"rows": 0, "dtype": np.dtype(t), "shape": (), "path": None}
                          for k, t in (("sample_id", np.int64), ("ok", bool))}
        for k, part in self.parts.items():
            if part.get("file"):
                part["file"].close()
            header = {"descr": np.lib.format.dtype_to_descr(part["dtype"]), "fortran_order": False,
                      "shape": (part["rows"], *part["shape"])}
            with io.atomic_path(self.out_dir / f"{self._stem(trainer)}.{k}.npy") as tmp:
                with open(tmp, "wb") as f:
                    np.lib.format.write_array_header_1_0(f, header)
                    if part["path"] is not None:
                        with open(part["path"], "rb") as src:
                            shutil.copyfileobj(src, f, 1 << 20)
                    f.flush()
                    os.fsync(f.fileno())
            if part["path"] is not None:
                part["path"].unlink()
        self.parts = {}
        trainer.strategy.barrier("audioclust-shards-written")


def merge_shards(shard_dir, chunk: int = 65536) -> dict:
    """Merge every shard into <key>.npy sorted by sample id, each id once; returns what shards.json records."""
    shard_dir = Path(shard_dir)
    stems = sorted({p.name.split(".")[0] for p in shard_dir.glob("shard-*.sample_id.npy")})
    if not stems:
        raise FileNotFoundError(f"no embedding shards in {shard_dir}")
    ids = [np.load(shard_dir / f"{s}.sample_id.npy") for s in stems]
    all_ids = np.concatenate(ids).astype(np.int64)
    which = np.concatenate([np.full(len(a), i) for i, a in enumerate(ids)])
    row = np.concatenate([np.arange(len(a)) for a in ids])
    uniq, first = np.unique(all_ids, return_index=True)  # sorted ids; first occurrence of each
    src_shard, src_row = which[first], row[first]
    keys = [k for k in KEYS if any((shard_dir / f"{s}.{k}.npy").is_file() for s in stems)]
    for k in keys:
        parts = {i: np.load(shard_dir / f"{s}.{k}.npy", mmap_mode="r") for i, s in enumerate(stems)
                 if (shard_dir / f"{s}.{k}.npy").is_file()}  # a rank that got no samples has no embedding shard
        full = max(parts.values(), key=len)
        with io.atomic_path(shard_dir / f"{k}.npy", suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=full.dtype,
                                            shape=(len(uniq), *full.shape[1:]))
            for i, part in parts.items():
                dest = np.flatnonzero(src_shard == i)
                for s in range(0, len(dest), chunk):
                    d = dest[s:s + chunk]
                    out[d] = part[src_row[d]]
            out.flush()
            del out
    info = {"world_size": len(stems), "rows_per_shard": [len(a) for a in ids], "n_samples": int(len(uniq)),
            "duplicates_dropped": int(len(all_ids) - len(uniq)), "keys": keys}
    io.write_json(shard_dir / "shards.json", info)
    for p in shard_dir.glob("shard-*.npy"):
        p.unlink()
    return info


def load_merged(shard_dir) -> dict:
    """The merged arrays, memory-mapped read-only (np.load(mmap_mode='r')): nothing is read into RAM yet."""
    shard_dir = Path(shard_dir)
    keys = json.loads((shard_dir / "shards.json").read_text())["keys"]
    return {k: np.load(shard_dir / f"{k}.npy", mmap_mode="r") for k in keys}
