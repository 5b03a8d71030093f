"""A previous fit as a searchable set: audioclust-cluster's embeddings.npy (memory-mapped) and assignments.csv (the
same rows, in order), and the query rows a user names in it (a file and offset, or a cluster)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from audioclust.errors import ConfigError


class Fit(NamedTuple):
    vectors: np.ndarray   # (n, d), memory-mapped
    path: list[str]
    offset: np.ndarray
    cluster: np.ndarray
    label: list[str]
    name: list[str]       # a curated fit's names ("" where none; audioclust-curate)


def read_fit(folder: Any) -> Fit:
    """embeddings.npy and assignments.csv of an audioclust-cluster output folder, checked to have the same rows."""
    folder = Path(folder)
    missing = [f for f in ("embeddings.npy", "assignments.csv") if not (folder / f).is_file()]
    if missing:
        raise ConfigError(f"fit_dir={folder}: no {missing[0]} there (an audioclust-cluster output folder has it)")
    x = np.load(folder / "embeddings.npy", mmap_mode="r", allow_pickle=False)
    with open(folder / "assignments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if len(rows) != len(x):
        raise ConfigError(f"fit_dir={folder}: assignments.csv has {len(rows)} rows, embeddings.npy {len(x)}: not one fit's")
    return Fit(x, [r["path"] for r in rows], np.array([float(r["offset"]) for r in rows]),
               np.array([int(r["cluster"]) for r in rows], np.int64), [r.get("label", "") for r in rows],
               [r.get("name") or "" for r in rows])


def query_rows(fit: Fit, path: str | None = None, offset: float | None = None, cluster: int | None = None) -> np.ndarray:
    """The rows a query names: the row of `path` (the whole path, or a file name that is unique in the fit) at
    `offset` (seconds; the row whose window starts nearest; none: the file's first row), or every row of `cluster`."""
    if (path is None) == (cluster is None):
        raise ConfigError("give one query: query.path=<a file of the fit> (and query.offset=<s>), or query.cluster=<id>")
    if cluster is not None:
        rows = np.flatnonzero(fit.cluster == int(cluster))
        if not len(rows):
            raise ConfigError(f"query.cluster={cluster}: no row of the fit is in it (clusters {sorted(set(fit.cluster.tolist()))})")
        return rows
    paths = np.asarray(fit.path, dtype=object)
    rows = np.flatnonzero(paths == path)
    if not len(rows):
        named = {p for p in fit.path if Path(p).name == Path(path).name}
        if len(named) > 1:
            raise ConfigError(f"query.path={path}: {len(named)} files of the fit have that name: give the whole path")
        rows = np.flatnonzero(paths == next(iter(named))) if named else rows
    if not len(rows):
        raise ConfigError(f"query.path={path}: not a file of this fit (assignments.csv)")
    at = 0 if offset is None else int(np.argmin(np.abs(fit.offset[rows] - float(offset))))
    return rows[at:at + 1]
