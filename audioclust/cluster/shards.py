"""Sharded embeddings: each predict rank writes its own shard (explicit sample ids); rank 0 merges them so
that every sample appears exactly once (distributed samplers may pad a rank with repeated samples).

Layout of a shard dir: shard-<rank>-of-<world>.<key>.npy per rank and key (embedding, sample_id, ok,
dec_cluster), then after the merge <key>.npy (rows sorted by sample id) and shards.json. Read the merged
arrays memory-mapped with load_merged()."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from audioclust import io

KEYS = ("embedding", "sample_id", "ok", "dec_cluster")


class ShardWriter(BasePredictionWriter):
    """Keeps this rank's predictions (small: d floats per clip) and writes them as one shard at the end."""

    def __init__(self, out_dir):
        super().__init__(write_interval="batch")
        self.out_dir, self.parts = Path(out_dir), []

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx=0):
        self.parts.append({k: v.detach().cpu() for k, v in prediction.items() if k in KEYS})

    def on_predict_epoch_end(self, trainer, pl_module):
        rank, world = trainer.global_rank, trainer.world_size
        keys = [k for k in KEYS if self.parts and k in self.parts[0]] or ["embedding", "sample_id", "ok"]
        for k in keys:
            arr = torch.cat([p[k] for p in self.parts]).numpy() if self.parts else np.zeros((0,), np.float32)
            io.write_npy(self.out_dir / f"shard-{rank:03d}-of-{world:03d}.{k}.npy", arr)
        self.parts = []
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
    keys = [k for k in KEYS if (shard_dir / f"{stems[0]}.{k}.npy").is_file()]
    for k in keys:
        parts = [np.load(shard_dir / f"{s}.{k}.npy", mmap_mode="r") for s in stems]
        with io.atomic_path(shard_dir / f"{k}.npy", suffix=".npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=parts[0].dtype,
                                            shape=(len(uniq), *parts[0].shape[1:]))
            for i, part in enumerate(parts):
                dest = np.flatnonzero(src_shard == i)
                for s in range(0, len(dest), chunk):
                    d = dest[s:s + chunk]
                    out[d] = part[src_row[d]]
            out.flush()
            del out
    info = {"world_size": len(stems), "rows_per_shard": [len(a) for a in ids], "n_samples": int(len(uniq)),
            "duplicates_dropped": int(len(all_ids) - len(uniq)), "keys": keys}
    io.write_json(shard_dir / "shards.json", info)
    for s in stems:
        for k in keys:
            (shard_dir / f"{s}.{k}.npy").unlink()
    return info


def load_merged(shard_dir) -> dict:
    """The merged arrays, memory-mapped read-only (np.load(mmap_mode='r')): nothing is read into RAM yet."""
    shard_dir = Path(shard_dir)
    keys = json.loads((shard_dir / "shards.json").read_text())["keys"]
    return {k: np.load(shard_dir / f"{k}.npy", mmap_mode="r") for k in keys}
