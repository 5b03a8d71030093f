"""The embedding store: each window's embedding is written once per encoder identity and clip, then read by every
later run over the same audio (another k, method, reduction or report; new files added to the folder), and a
killed run keeps what it had written. Plain Parquet files: pandas, polars or DuckDB read them without audioclust.

    <store.dir>/<encoder>-<key>/_identity.json        what the rows were made with: the encoder (its adapter and
                                                      version, packages or the trained run's checkpoint), sr, clip
    <store.dir>/<encoder>-<key>/part-<rank>-<id>.parquet   rows: path, size, mtime_ns, file, offset, offset_us, ok,
                                                      power, vector (fixed-size list of float32) [, voice, dec_cluster]

- A partition reads as one table: pq.read_table(<partition>), duckdb "FROM '<partition>/*.parquet'" (readers skip
  the files whose names start with _ or ., _identity.json and the temp files).
- A row is found by (file, offset_us): `file` is a hash of the file's absolute path, size and modification time
  (`hash=content`: of its bytes, so a moved or copied file keeps its rows). A changed file is a new key, embedded
  again; a removed file's rows stay until `audioclust-store action=prune` removes the rows of files that are gone
  or changed.
- Every predict rank writes its own parts, each atomically (write, fsync, rename), every `flush_rows` rows or
  `flush_seconds`: a run killed at any point (SIGKILL, a time limit, a requeue) keeps every part it finished and
  embeds only the rest when run again. A row written twice (a distributed sampler's padding, two runs at once) is
  read once.
- Reading copies the rows of a run, in its sample order, into memory-mapped .npy files (one part in memory at a
  time), so a million windows are read in bounded memory.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audioclust import checks, io

VERSION = 1                  # the layout of a part (its columns); a part of another version is not read
OUTPUTS = ("embedding", "ok", "power", "voice", "dec_cluster")   # what predict_step gives, as columns
HASHES = ("stat", "content")


SPEED_ONLY = ("threads", "clip_batch", "block_batch")   # encoder options left out of the store's key
ROUNDING_ONLY = ("precision",)   # encoder options that change a row's values by rounding only (mode=assign says so)


def value_options(options: dict) -> dict:
    """An encoder node's options that decide what a row says, as the store's key and a fit's encoder.json keep them:
    all but its name and the SPEED_ONLY ones."""
    return {k: v for k, v in options.items() if k not in ("name", *SPEED_ONLY)}


def identity_of(options: dict, model, dm) -> dict:
    """What decides a row's values besides the audio: the encoder (its options; the adapter's class, version and
    packages, or a train run's checkpoint: builders.load_run), the sample rate, the clip length, the trimming,
    whether the long-term spectra are kept (voice groups), and the encoder's native length where its windows are
    read at it (data/windowing.py). Not SPEED_ONLY, the options that change the speed, not what a row says (the
    same numbers to 1e-6 at any model-call batch, the same bytes on the CPUs measured; ~1e-5 at any thread count)."""
    own = model.identity() if hasattr(model, "identity") else {"adapter": "blockae", **model.run_identity}
    w = dm.index.windowing
    native = {"native_seconds": w.read_seconds} if w.read_seconds > float(w.clip_seconds) else {}   # (old keys kept)
    return {"encoder": {**value_options(options), **own}, "sr": int(dm.sr),
            "clip_seconds": float(dm.index.windowing.clip_seconds), "trim_db": dm.trim_db,
            "voice": bool(getattr(model, "predict_voice", False)), **native}


def identity_key(identity: dict) -> str:
    """The partition's key: a hash of everything that decides a row's values."""
    return hashlib.sha256(json.dumps({"store": VERSION, **identity}, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_key(path: str, how: str = "stat") -> str:
    """A file's identity: its absolute path, size and modification time (stat), or its bytes (content)."""
    if how == "content":
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return "sha256:" + h.hexdigest()[:32]
    st = os.stat(path)
    return hashlib.sha1(f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Keys:
    """What identifies each sample of an index: its file's (path, size, mtime_ns, key) and its offset."""
    paths: list[str]         # per file, absolute
    sizes: np.ndarray        # per file
    mtimes: np.ndarray       # per file (ns)
    files: list[str]         # per file: file_key
    file_ids: np.ndarray     # per sample
    offsets: np.ndarray      # per sample, seconds

    @classmethod
    def of(cls, index, how: str = "stat") -> Keys:
        paths = [os.path.realpath(p) for p in index.files]   # a link (the API's list of files) is its file
        stats = [os.stat(p) for p in paths]
        return cls(paths, np.array([s.st_size for s in stats], np.int64), np.array([s.st_mtime_ns for s in stats], np.int64),
                   [file_key(p, how) for p in paths], np.asarray(index.file_ids, np.int64), np.asarray(index.offsets, np.float64))

    def offset_us(self, sample_ids=None) -> np.ndarray:
        off = self.offsets if sample_ids is None else self.offsets[np.asarray(sample_ids, np.int64)]
        return np.round(off * 1e6).astype(np.int64)


@dataclass(frozen=True)
class Found:
    """lookup()'s answer, per sample: whether the store holds its row, and where (part number, row in the part)."""
    present: np.ndarray      # (n,) bool
    part: np.ndarray         # (n,) int64, -1 where absent
    row: np.ndarray          # (n,) int64
    parts: list[Path]

    @property
    def missing(self) -> np.ndarray:
        return np.flatnonzero(~self.present)


class Store:
    """One encoder identity's rows under root (store.dir): insert (a writer per rank), lookup, read."""

    def __init__(self, root, name: str, identity: dict, hash: str = "stat", flush_rows: int = 4096,
                 flush_seconds: float = 60.0):
        self.root, self.name, self.identity = Path(root), name, identity
        self.hash = checks.choice("store.hash", hash, HASHES)
        checks.number("store.flush_rows", flush_rows, integer=True)
        checks.number("store.flush_seconds", flush_seconds)
        self.dir = self.root / f"{name}-{identity_key({**identity, 'hash': self.hash})}"
        self.flush_rows, self.flush_seconds = int(flush_rows), float(flush_seconds)

    def parts(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet"))

    def rows_by_rank(self, parts) -> dict[int, int]:
        """Rows in these parts, by the rank that wrote them (part-<rank>-...)."""
        import pyarrow.parquet as pq

        out: dict[int, int] = {}
        for p in parts:
            rank = int(Path(p).name.split("-")[1])
            out[rank] = out.get(rank, 0) + pq.read_metadata(p).num_rows
        return dict(sorted(out.items()))

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.parts())

    def open(self) -> None:
        """The partition's folder and _identity.json (written once, atomically)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "_identity.json").is_file():
            io.write_json(self.dir / "_identity.json", {"store_version": VERSION, "name": self.name, **self.identity})

    # ---- lookup ------------------------------------------------------------------------------------------------
    def lookup(self, keys: Keys) -> Found:
        """Which samples the store holds (the first copy of each row)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(keys.file_ids)
        parts = self.parts()
        part, row = np.full(n, -1, np.int64), np.zeros(n, np.int64)
        if parts and n:
            cat = []
            for i, p in enumerate(parts):
                t = pq.read_table(p, columns=["file", "offset_us"])
                cat.append(t.append_column("part", pa.array(np.full(len(t), i, np.int64)))
                           .append_column("row", pa.array(np.arange(len(t), dtype=np.int64))))
            catalog = pa.concat_tables(cat)
            files = np.asarray(keys.files, dtype=object)[keys.file_ids]
            need = pa.table({"file": pa.array(files, pa.string()), "offset_us": keys.offset_us(),
                             "sid": np.arange(n, dtype=np.int64)})
            j = need.join(catalog, keys=["file", "offset_us"], join_type="inner")
            sid, jp, jr = (j.column(c).to_numpy() for c in ("sid", "part", "row"))
            order = np.lexsort((jr, jp, sid))   # the first copy of a row (by part, then row) wins
            sid, jp, jr = sid[order], jp[order], jr[order]
            first = np.r_[True, sid[1:] != sid[:-1]] if len(sid) else np.zeros(0, bool)
            part[sid[first]], row[sid[first]] = jp[first], jr[first]
        return Found(part >= 0, part, row, parts)

    # ---- insert ------------------------------------------------------------------------------------------------
    def write_part(self, keys: Keys, sample_ids: np.ndarray, outputs: dict, rank: int = 0) -> Path:
        """One part of rows (sample ids of `keys`, their predict_step outputs), atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        sid = np.asarray(sample_ids, np.int64)
        fid = keys.file_ids[sid]
        cols = {"path": pa.array([keys.paths[f] for f in fid], pa.string()), "size": pa.array(keys.sizes[fid]),
                "mtime_ns": pa.array(keys.mtimes[fid]), "file": pa.array([keys.files[f] for f in fid], pa.string()),
                "offset": pa.array(keys.offsets[sid]), "offset_us": pa.array(keys.offset_us(sid))}
        for k in OUTPUTS:
            if k not in outputs:
                continue
            v = np.asarray(outputs[k])
            name = "vector" if k == "embedding" else k
            cols[name] = io.vector_column(v.reshape(len(v), -1).astype(np.float32)) if v.ndim > 1 else pa.array(v)
        table = pa.table(cols)
        path = self.dir / f"part-{rank:03d}-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
        with io.atomic_path(path, suffix=".parquet") as tmp:
            pq.write_table(table, tmp, use_dictionary=["path", "file"])   # not the floats: 20-33% smaller (bench/store.py)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        return path

    # ---- read --------------------------------------------------------------------------------------------------
    def read(self, found: Found, out_dir, sample_ids=None) -> dict:
        """The rows of `sample_ids` (default: every sample; all present), in that order, copied into
        <out_dir>/<output>.npy (memory-mapped, one part read at a time); returned as embed() returns them:
        sample_id, embedding, ok, power [, voice, dec_cluster], memory-mapped read-only."""
        import pyarrow.parquet as pq

        sid = np.arange(len(found.present)) if sample_ids is None else np.asarray(sample_ids, np.int64)
        if not found.present[sid].all():
            raise RuntimeError(f"{int((~found.present[sid]).sum())} rows are missing from the store {self.dir}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        part, row = found.part[sid], found.row[sid]
        arrays: dict = {}
        for i, p in enumerate(found.parts):
            sel = np.flatnonzero(part == i)
            if not len(sel):
                continue
            t = pq.read_table(p, columns=[c for c in pq.read_schema(p).names if c in ("vector", *OUTPUTS)])
            for name in t.column_names:
                key = "embedding" if name == "vector" else name
                values = _numpy(t.column(name))
                if key not in arrays:
                    arrays[key] = np.lib.format.open_memmap(_tmp(out_dir / f"{key}.npy"), mode="w+", dtype=values.dtype,
                                                            shape=(len(sid), *values.shape[1:]))
                arrays[key][sel] = values[row[sel]]
            del t
        io.write_npy(out_dir / "sample_id.npy", sid)
        keys = list(arrays)
        for key in keys:
            arrays[key].flush()
        arrays.clear()
        for key in keys:
            os.replace(_tmp(out_dir / f"{key}.npy"), out_dir / f"{key}.npy")
        return {k: np.load(out_dir / f"{k}.npy", mmap_mode="r") for k in ("sample_id", *keys)}


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def _numpy(col) -> np.ndarray:
    """A column as numpy: a fixed-size list of float32 as (n, d)."""
    import pyarrow as pa

    if pa.types.is_fixed_size_list(col.type):
        chunks = [c.flatten().to_numpy(zero_copy_only=False).reshape(len(c), col.type.list_size) for c in col.chunks]
        return np.concatenate(chunks) if len(chunks) != 1 else chunks[0]
    return col.to_numpy()


def describe(root) -> list[dict]:
    """Every partition under root: name, key, rows, files, bytes, last written, identity (audioclust-store)."""
    import pyarrow.parquet as pq

    out = []
    for d in sorted(Path(root).glob("*-*")):
        if not (d / "_identity.json").is_file():
            continue
        parts = sorted(d.glob("part-*.parquet"))
        rows = sum(pq.read_metadata(p).num_rows for p in parts)
        files = len(set().union(*(set(pq.read_table(p, columns=["file"]).column("file").to_pylist()) for p in parts))) if parts else 0
        out.append({"dir": str(d), "identity": json.loads((d / "_identity.json").read_text()), "parts": len(parts),
                    "rows": rows, "files": files, "bytes": sum(p.stat().st_size for p in parts),
                    "last_written": max((p.stat().st_mtime for p in parts), default=None)})
    return out


def prune(root, gone: bool = True, older_than_days: float | None = None, name: str | None = None) -> dict:
    """Remove whole partitions last written more than `older_than_days` ago (or all of encoder `name`), and, with
    `gone`, the rows of files that no longer exist or changed since (their parts rewritten without them,
    atomically). Returns what was removed."""
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    removed = {"partitions": 0, "rows": 0, "bytes": 0}
    now = time.time()
    for info in describe(root):
        d = Path(info["dir"])
        old = older_than_days is not None and (info["last_written"] or 0) < now - older_than_days * 86400
        if old or (name is not None and info["identity"].get("name") == name):
            removed["partitions"] += 1
            removed["rows"] += info["rows"]
            removed["bytes"] += info["bytes"]
            shutil.rmtree(d)
            continue
        if not gone:
            continue
        hashed = {}
        for p in sorted(d.glob("part-*.parquet")):
            t = pq.read_table(p)
            keep = []
            for path, size, mtime, key in zip(*(t.column(c).to_pylist() for c in ("path", "size", "mtime_ns", "file"))):
                if (path, size, mtime) not in hashed:
                    try:
                        st = os.stat(path)
                        same = st.st_size == size and (key.startswith("sha256:") or st.st_mtime_ns == mtime)
                        hashed[(path, size, mtime)] = same and (not key.startswith("sha256:") or file_key(path, "content") == key)
                    except OSError:
                        hashed[(path, size, mtime)] = False
                keep.append(hashed[(path, size, mtime)])
            mask = pa.array(keep, pa.bool_())
            n_drop = len(keep) - sum(keep)
            if not n_drop:
                continue
            before = p.stat().st_size
            removed["rows"] += n_drop
            if n_drop == len(keep):
                p.unlink()
                removed["bytes"] += before
                continue
            with io.atomic_path(p, suffix=".parquet") as tmp:
                pq.write_table(pc.filter(t, mask), tmp)
            removed["bytes"] += before - p.stat().st_size
    return removed
