"""Atomic output writing (temp file in the same folder + os.replace) and safe checkpoint loading.

Every temp file or folder that becomes an output is made by `temp_beside`, with the mode the umask gives (files
0644 and folders 0755 under umask 022, 0664 / 0775 under 002), as open() and mkdir() would: tempfile.mkstemp and
mkdtemp make them 0600 / 0700, and the rename would leave every output unreadable to the owner's colleagues."""
from __future__ import annotations

import csv
import io
import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from audioclust.errors import CheckpointError


def temp_beside(path, suffix: str = ".tmp", folder: bool = False) -> Path:
    """A new, empty, hidden file (or folder) next to `path`, named `.<name>.<random><suffix>`, created exclusively
    (never an existing name or a symlink's target) with the mode the umask gives: 0o666 (folder 0o777) & ~umask."""
    path = Path(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            if folder:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temp name next to {path}")


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temp path next to `path` (temp_beside: the umask's mode); on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(temp_beside(path, suffix or ".tmp"))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes(path, data: bytes) -> None:
    with _atomic_file(path, "wb") as f:
        f.write(data)


@contextmanager
def _atomic_file(path, mode: str, **kw):
    """An open temp file next to `path`, synced and renamed onto `path` when the block succeeds."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_npy(path, array: np.ndarray) -> None:
    """Streamed to the file (a memory-mapped array is read through, never copied whole into memory)."""
    with _atomic_file(path, "wb") as f:
        np.save(f, np.asanyarray(array))


def write_csv(path, rows: list[dict], fields: list[str]) -> None:
    write_csv_rows(path, fields, ([r.get(k, "") for k in fields] for r in rows))


def write_csv_rows(path, fields: list[str], rows) -> None:
    """A CSV from any iterable of value sequences (a generator streams it: no list of rows is held)."""
    with _atomic_file(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(fields)
        writer.writerows(rows)


def vector_column(vectors: np.ndarray):
    """Row vectors (n, d) as an Arrow fixed-size list of float32 (d per row): what Parquet readers (pandas, polars,
    DuckDB's FLOAT[d]) take as one array column."""
    import pyarrow as pa

    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1] if v.ndim == 2 else 1)


def write_parquet(path, schema, batches) -> None:
    """A Parquet file from an iterable of pyarrow RecordBatches (one row group each, streamed: never the whole
    table in memory), written atomically like every output."""
    import pyarrow.parquet as pq

    with _atomic_file(path, "wb") as f:
        with pq.ParquetWriter(f, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)


def save_torch(path, obj) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_torch(path, map_location="cpu"):
    """Load a checkpoint with weights_only=True: tensors and plain containers only, never code."""
    if not Path(path).is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"refusing to load {path}: not a plain weights file "
                              f"({str(exc).splitlines()[0][:200]})") from None


def _jsonable(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
