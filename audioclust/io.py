"""Atomic output writing (temp file in the same folder + os.replace) and safe checkpoint loading."""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from audioclust.errors import CheckpointError


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temp path next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or ".tmp", dir=path.parent)
    os.close(fd)
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
