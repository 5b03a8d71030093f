"""Embed every clip of a data module with Lightning's predict loop: through the embedding store (embed/store.py;
reused rows, resumable, each row read once on 1..N ranks) or in memory."""
from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from audioclust import io
from audioclust.data.windowing import whole_files
from audioclust.errors import ConfigError
from audioclust.utils import is_rank_zero

KEYS = ("embedding", "sample_id", "ok", "dec_cluster", "voice", "power")   # what a predict step gives


def embed(model, datamodule, device: str = "auto", progress: bool = True, devices=1, strategy: str = "auto",
          store=None, out_dir=None) -> dict | None:
    """Embeddings of the data module's samples (its predict_ids, default every one), in sample-id order:
    {embedding (n, d), sample_id (n,), ok (n,), power (n,) [, voice, dec_cluster]}.

    With a store (embed/store.py Store) and out_dir: the rows it holds are reused and only the others embedded,
    each predict rank writing its own parts into it; rank 0 then copies every sample's row into out_dir and returns
    them memory-mapped (other ranks: None), and prints how many were embedded and reused. devices/strategy are
    Lightning's (e.g. devices=2 strategy=ddp: gloo on CPU, NCCL on GPUs). Without a store: in memory, one process."""
    if store is None:
        if devices != 1 or strategy not in ("auto", None):
            raise ConfigError("distributed embedding needs a store (cluster.py has one)")
        parts = _trainer(device, progress, devices, strategy, []).predict(model, datamodule=datamodule)
        keys = [k for k in KEYS if k in parts[0]]
        out = {k: torch.cat([p[k] for p in parts]).numpy() for k in keys}
        order = np.argsort(out["sample_id"], kind="stable")
        return {k: v[order] for k, v in out.items()}
    return stored_rows(predict_missing(model, datamodule, store, device, progress, devices, strategy), out_dir)


class Predicted(NamedTuple):
    """predict_missing's result: what stored_rows reads (the store, the samples' keys, the wanted and the missing
    sample ids, this process's rank, the store's parts before)."""
    store: object
    keys: object
    wanted: np.ndarray
    missing: np.ndarray
    rank: int
    before: set


def predict_missing(model, datamodule, store, device: str = "auto", progress: bool = True, devices=1,
                    strategy: str = "auto") -> Predicted:
    """The first half of embed() with a store: the data module's samples the store lacks, embedded into it by every
    predict rank."""
    from audioclust.embed.store import Keys

    keys = Keys.of(datamodule.index, store.hash)
    wanted = np.arange(len(datamodule.index)) if datamodule.predict_ids is None else np.asarray(datamodule.predict_ids)
    missing = wanted[~store.lookup(keys).present[wanted]]
    # nothing to embed in a distributed embed: the launcher's rank (srun and torchrun start every rank, and each finds
    # nothing missing); one process (devices=1: encoder=auto's candidates on every rank, a plain run) is rank 0
    alone = devices in (1, "1") and strategy in ("auto", None)
    rank, asked, before = 0 if alone or is_rank_zero() else 1, datamodule.predict_ids, set(store.parts())
    if len(missing):
        store.open()
        trainer = _trainer(device, progress, devices, strategy, [StoreWriter(store, keys)])
        datamodule.predict_ids = every_rank_one(missing, trainer.world_size)
        with spawned_ranks_quiet(strategy):
            trainer.predict(model, datamodule=datamodule, return_predictions=False)
        datamodule.predict_ids = asked
        rank = trainer.global_rank
    return Predicted(store, keys, wanted, missing, rank, before)


def stored_rows(done: Predicted, out_dir) -> dict | None:
    """The second half of embed() with a store: on rank 0, every wanted sample's row copied from the store into
    out_dir (memory-mapped; rows.json says what was embedded and reused), said in one line; None on other ranks."""
    if done.rank != 0:
        return None
    store = done.store
    found = store.lookup(done.keys)
    emb = store.read(found, out_dir, done.wanted)
    info = {"embedded": int(len(done.missing)), "reused": int(len(done.wanted) - len(done.missing)), "keys": list(emb),
            "rows_by_rank": store.rows_by_rank(set(found.parts) - done.before), "store": str(store.dir),
            "store_bytes": store.size_bytes()}
    io.write_json(Path(out_dir) / "rows.json", info)
    print(f"embedding: {info['embedded']} windows embedded, {info['reused']} reused from the store "
          f"({store.dir}, {info['store_bytes'] / 2 ** 20:.1f} MiB)")
    return emb


def embed_members(members: list, device: str = "auto", out_dir=None, chunk: int = 65536, **how) -> dict | None:
    """encoder=mix's embeddings: each member, given as (name, model, data module at its own rate, its store or None),
    embedded by embed() as that encoder alone is (through its store: a member's rows that a run of it, or
    encoder=auto's sample, wrote are reused, and this run's are reused by them), then side by side in member
    order: {embedding (n, sum of dims), sample_id, ok (every member's), power (the member's of the highest rate, the
    one that hears the most of the band, as the weight of a window when a file is pooled)}. With stores: in
    <out_dir> (embedding.npy memory-mapped; each member's copy of its rows removed once joined), and rows.json sums
    what each member embedded, reused and stores; without: in memory. `how`: embed()'s progress, devices and
    strategy. With stores, every member's predict runs (on every rank) before rank 0 reads any member's rows. None
    on a non-zero predict rank (after every member's embedding, which each rank takes part in)."""
    stored = out_dir is not None and all(m[3] is not None for m in members)
    if stored:   # (no rank waits at the next member's predict while rank 0 copies a member's rows)
        done = [predict_missing(model, dm, store, device, **how) for _, model, dm, store in members]
        got = [stored_rows(d, Path(out_dir) / m[0]) for d, m in zip(done, members)]
    else:
        got = [embed(model, dm, device, **how) for _, model, dm, _ in members]
    if any(g is None for g in got):
        return None
    sid = np.asarray(got[0]["sample_id"])
    if any(not np.array_equal(g["sample_id"], sid) for g in got[1:]):
        raise RuntimeError("encoder=mix: its members embedded different samples")
    ok = np.logical_and.reduce([np.asarray(g["ok"]).astype(bool) for g in got])
    widest = max(range(len(members)), key=lambda i: int(members[i][2].sr))
    out = {"sample_id": sid, "ok": ok, "power": np.array(got[widest]["power"])}
    if not stored:
        return {**out, "embedding": np.concatenate([np.asarray(g["embedding"], np.float32) for g in got], 1)}
    out_dir = Path(out_dir)
    tmp = out_dir / ".embedding.npy.tmp"
    x = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(sid), sum(int(g["embedding"].shape[1]) for g in got)))
    for a in range(0, len(sid), chunk):
        x[a:a + chunk] = np.concatenate([np.asarray(g["embedding"][a:a + chunk], np.float32) for g in got], 1)
    x.flush()
    del x, got
    os.replace(tmp, out_dir / "embedding.npy")
    for name, *_ in members:
        (out_dir / name / "embedding.npy").unlink(missing_ok=True)   # joined: not kept twice
    for key, value in out.items():
        io.write_npy(out_dir / f"{key}.npy", value)
    info = {m[0]: json.loads((out_dir / m[0] / "rows.json").read_text()) for m in members}
    io.write_json(out_dir / "rows.json", {"embedded": sum(i["embedded"] for i in info.values()),
                                          "reused": sum(i["reused"] for i in info.values()), "members": info,
                                          "store_bytes": sum(i["store_bytes"] for i in info.values()),
                                          "keys": ["sample_id", "embedding", "ok", "power"]})
    return {**out, "embedding": np.load(out_dir / "embedding.npy", mmap_mode="r")}


def every_rank_one(ids: np.ndarray, world: int) -> np.ndarray:
    """The ids to predict on `world` ranks: as they are, or, when fewer than the ranks, repeated until each rank has
    one (Lightning's predict sampler stops a run that leaves a rank without a sample: its assert, and then a broken
    barrier on the others). A window predicted twice is written twice and read once (Store.lookup)."""
    return ids if len(ids) >= world else np.resize(ids, world)


@contextlib.contextmanager
def spawned_ranks_quiet(strategy):
    """strategy=ddp_spawn: the ranks it spawns are fresh interpreters that run no task, so nothing keeps their library
    warnings (Lightning's srun hint, its deprecations) off the user's screen as quiet_console does in this process;
    they start with Python's warnings off (PYTHONWARNINGS=ignore, which they inherit; their warnings are dropped, not
    logged), unless the user set their own. It sets this process's environment while they start: one embed at a time."""
    spawn = "spawn" in str(strategy) or getattr(strategy, "_start_method", None) == "spawn"   # a name or a strategy
    if not spawn or "PYTHONWARNINGS" in os.environ:
        yield
        return
    os.environ["PYTHONWARNINGS"] = "ignore"
    try:
        yield
    finally:
        os.environ.pop("PYTHONWARNINGS", None)


def _trainer(device: str, progress: bool, devices, strategy, callbacks):
    accelerator = "gpu" if device == "cuda" else ("cpu" if device == "cpu" else "auto")
    return L.Trainer(accelerator=accelerator, devices=devices, strategy=strategy or "auto", logger=False,
                     enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                     callbacks=callbacks)


def spectrograms(model, datamodule, sample_ids) -> list[np.ndarray]:
    """First-channel log spectrograms (F, T) of some samples, for the montage."""
    return clips(model, datamodule, sample_ids)[1]


def clips(model, datamodule, sample_ids) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(decoded waves, first-channel log spectrograms (F, T)) of some samples, as the model sees them."""
    ds = datamodule.predict_dataloader().dataset
    items = [ds[int(i)] for i in sample_ids]
    if not items:
        return [], []
    waves = torch.stack([it["wave"] for it in items]).to(getattr(model, "input_device", model.device))
    lengths = torch.tensor([it["length"] for it in items])
    with torch.no_grad():
        spec = model.frontend.spectrogram(waves, lengths)
    return ([w[:int(n)].cpu().numpy() for w, n in zip(waves, lengths)], [s[0].cpu().numpy() for s in spec])


def pooled(emb: dict, index, whole: bool = False) -> dict:
    """embed()'s output as the rows a run clusters, as the index's windowing says: a file up to its
    pool_windows_up_to seconds one row, its windows weighted by signal power (pool_weights=power) or alike (equal).
    whole: every file one row, however long (what cluster.fit_on=files fits on)."""
    w = index.windowing
    return pool_files(emb, index, float("inf") if whole else w.pool_windows_up_to, weights=w.weights(emb.get("power")))


def pool_files(emb: dict, index, up_to: float | None, weights=None, chunk: int = 65536) -> dict:
    """One row per file up to `up_to` seconds long: the mean of its decoded windows' embeddings (and long-term
    spectra), under its first window's sample id; a longer file keeps one row per window. `emb` is embed()'s
    output (sample-id order, so a file's windows are contiguous); None: as it is. weights (per row of emb, >= 0):
    a weighted mean instead (e.g. each window's signal power).
    When no file is pooled the arrays come back as they are (memory-mapped); else the means are taken `chunk`
    rows at a time, so the only new memory is the pooled rows themselves."""
    if up_to is None or not len(emb["sample_id"]):
        return emb
    sid = np.asarray(emb["sample_id"])
    fid = index.file_ids[sid]
    whole = whole_files(index.durations, up_to)[fid]
    key = np.where(whole, fid, -1 - sid)            # long files: every window its own group
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    if len(first) == len(sid):   # every row is its own group (recordings longer than up_to): nothing to pool
        return emb
    ok = np.asarray(emb["ok"]).astype(bool)
    w = ok.astype(np.float64) if weights is None else np.asarray(weights, np.float64) * ok + 1e-12 * ok
    n = np.add.reduceat(w, first)
    out = {"sample_id": sid[first], "ok": np.add.reduceat(ok.astype(np.int64), first) > 0}
    ends = np.r_[first[1:], len(w)]
    for k in ("embedding", "voice"):
        if k in emb:
            src = emb[k]
            out[k] = np.empty((len(first), *src.shape[1:]), np.float32)
            g = 0
            while g < len(first):   # groups g..h-1: about `chunk` rows, whole groups only
                h = max(g + 1, int(np.searchsorted(first, first[g] + chunk)))
                a, b = first[g], ends[h - 1]
                v = np.asarray(src[a:b], dtype=np.float64) * w[a:b, None]
                out[k][g:h] = np.add.reduceat(v, first[g:h] - a, axis=0) / np.maximum(n[g:h], 1e-300)[:, None]
                g = h
    if "dec_cluster" in emb:
        out["dec_cluster"] = np.asarray(emb["dec_cluster"])[first]
    if "power" in emb:
        out["power"] = np.add.reduceat(np.asarray(emb["power"], np.float64) * ok, first).astype(np.float32)
    return out


class StoreWriter(BasePredictionWriter):
    """Lightning's prediction writer for an embedding store: this rank's rows, a part every store.flush_rows rows
    or store.flush_seconds (embed/store.py). A module-level class: ddp_spawn pickles the callbacks."""

    def __init__(self, store, keys):
        super().__init__(write_interval="batch")
        self.store, self.keys, self.buf, self.rows, self.since = store, keys, {}, 0, time.monotonic()

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx=0):
        for k, v in prediction.items():
            if k in KEYS:
                self.buf.setdefault(k, []).append(np.ascontiguousarray(v.detach().cpu().numpy()))
        self.rows += len(prediction["sample_id"])
        if self.rows >= self.store.flush_rows or time.monotonic() - self.since >= self.store.flush_seconds:
            self.flush(trainer.global_rank)

    def flush(self, rank: int) -> None:
        if self.rows:
            out = {k: np.concatenate(v) for k, v in self.buf.items()}
            self.store.write_part(self.keys, out.pop("sample_id"), out, rank)
        self.buf, self.rows, self.since = {}, 0, time.monotonic()

    def on_predict_epoch_end(self, trainer, pl_module):
        self.flush(trainer.global_rank)
        trainer.strategy.barrier("audioclust-store-written")
