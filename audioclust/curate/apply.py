"""A curation's operations applied to a fit's clusters, as plain functions over arrays.

apply_operations turns the fit's clusters (one per row) into the curated ones, with the names; curated_stage makes
the state mode=assign reads follow them: the fitted rows are every row of the fit with its curated cluster (noise
included, so new audio nearest a clip marked noise is noise), the centroids (and HDBSCAN's radii) are those of the
curated clusters in the fit's reduced space."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from audioclust.cluster.density import cluster_stats, distances
from audioclust.cluster.kmeans import assign, fit_kmeans
from audioclust.cluster.neighbours import Neighbours
from audioclust.cluster.pipeline import Stage


class Curated(NamedTuple):
    clusters: np.ndarray      # per row: its curated cluster (-1: noise)
    names: dict[int, str]     # cluster -> name
    row_names: dict[int, str]  # row -> name given to that clip (label operations)
    changes: list[str]        # one line per operation applied, in order
    to_split: dict[int, int]  # cluster -> the number of parts it was split into

    def name_of(self, row: int) -> str:
        return self.row_names.get(row) or self.names.get(int(self.clusters[row]), "")

    @property
    def row_name_list(self) -> list[str]:
        return [self.name_of(i) for i in range(len(self.clusters))]


def apply_operations(operations: list[dict], clusters: np.ndarray, z: np.ndarray, seed: int = 0, gpu="auto",
                     names: dict[int, str] | None = None, row_names: dict[int, str] | None = None) -> Curated:
    """The fit's clusters (n,) after each operation in order (schema.OPS); z (n, d): each row in the fit's reduced
    space, where a split clusters the rows again (k-means, `seed`); names, row_names: those the fit already had (a
    curated fit curated again). An operation naming a cluster that no longer exists (merged away, or never was) is a
    ValueError naming it."""
    c = np.asarray(clusters, np.int64).copy()
    names, row_names = dict(names or {}), dict(row_names or {})
    top = max([int(c.max()) if len(c) else -1, *names])   # new clusters (splits) are numbered after every id used
    changes: list[str] = []
    to_split: dict[int, int] = {}
    for i, op in enumerate(operations):
        kind = op["op"]
        if kind == "rename":
            _exists(c, op["cluster"], i)
            names[int(op["cluster"])] = op["name"]
            changes.append(f"cluster {op['cluster']} named {op['name']!r}")
        elif kind == "merge":
            into, rest = int(op["clusters"][0]), [int(k) for k in op["clusters"][1:]]
            for k in [into, *rest]:
                _exists(c, k, i)
            moved = int(np.isin(c, rest).sum())
            c[np.isin(c, rest)] = into
            for k in rest:
                names.pop(k, None)
            changes.append(f"clusters {', '.join(map(str, rest))} merged into {into} ({moved} clips moved)")
        elif kind == "split":
            k, n = int(op["cluster"]), int(op["n"])
            rows = np.flatnonzero(c == _exists(c, k, i))
            if len(rows) < n:
                raise ValueError(f"operation {i} (split): cluster {k} has {len(rows)} clips, fewer than n={n}")
            part = assign(np.ascontiguousarray(z[rows], np.float32),
                          fit_kmeans(np.ascontiguousarray(z[rows], np.float32), n, seed=seed, gpu=gpu), gpu)[0]
            new = [k] + list(range(top + 1, top + n))
            top += n - 1
            c[rows] = np.asarray(new)[part]
            if k in names:
                base = names[k]
                names.update({q: f"{base} {j + 1}" for j, q in enumerate(new)})
            to_split[k] = n
            changes.append(f"cluster {k} split in {n}: clusters {', '.join(map(str, new))} "
                           f"({', '.join(str(int((c == q).sum())) for q in new)} clips)")
        elif kind == "move":
            to = int(op["to"])
            if to != -1:
                _exists(c, to, i, allow_new=True)
                top = max(top, to)
            clips = np.asarray(op["clips"], np.int64)
            c[clips] = to
            changes.append(f"{len(clips)} clip(s) moved to cluster {to}")
        elif kind == "noise":
            if "cluster" in op:
                k = _exists(c, int(op["cluster"]), i)
                rows = np.flatnonzero(c == k)
                names.pop(k, None)
                changes.append(f"cluster {k} marked noise ({len(rows)} clips)")
            else:
                rows = np.asarray(op["clips"], np.int64)
                changes.append(f"{len(rows)} clip(s) marked noise")
            c[rows] = -1
        elif kind == "label":
            for r in op["clips"]:
                row_names[int(r)] = op["name"]
            changes.append(f"{len(op['clips'])} clip(s) named {op['name']!r}")
    return Curated(c, names, row_names, changes, to_split)


def _exists(c: np.ndarray, k, i: int, allow_new: bool = False) -> int:
    k = int(k)
    if k < 0 or not (allow_new or (c == k).any()):
        raise ValueError(f"operation {i}: cluster {k} is not a cluster of the fit at that point (merged away, or never was)")
    return k


class Placed(NamedTuple):
    stage: Stage              # the curated stage (state() -> preprocess.npz)
    centroids: np.ndarray     # (max cluster + 1, d): a cluster with no clips left keeps its old centroid
    distances: np.ndarray     # per row: to its curated cluster's centroid (noise: to the nearest)


CELL_OPS = {"rename", "merge", "label"}   # curations that keep every k-means cell whole


def curated_stage(stage: Stage, p: np.ndarray, z: np.ndarray, clusters: np.ndarray, fitted: np.ndarray | None = None,
                  operations: list[dict] = ()) -> Placed:
    """The fit's stage with the curated clusters. A k-means fit without UMAP (new rows go to the nearest centroid)
    whose curation only renamed, merged and labelled (CELL_OPS) keeps its centroids and maps each cell to its curated
    cluster (Stage.relabel: a few bytes, whatever the number of rows). Otherwise: the centroids (and radii) of each
    curated cluster in the reduced space z, and every row of the fit (p: preprocessed by stage.pre) kept as a fitted
    row with its curated cluster, so that mode=assign places new audio by them (Stage.assign: the nearest fitted row)."""
    old = np.asarray(stage.centroids, np.float32)
    if stage.near is None and fitted is not None and {op["op"] for op in operations} <= CELL_OPS:
        stage.relabel = np.arange(len(old), dtype=np.int64)
        stage.relabel[fitted] = clusters   # a merge moves whole cells: each cell has one curated cluster
        centroids, labels = old, fitted
    else:
        centroids, labels = np.zeros((max(int(clusters.max()) + 1, len(old)), z.shape[1]), np.float32), clusters
        centroids[:len(old)] = old   # a cluster with no clips left keeps its centroid
        ids = np.unique(clusters[clusters >= 0])
        means, radii = cluster_stats(z, np.where(clusters >= 0, np.searchsorted(ids, clusters), -1),
                                     stage.method.options.get("radius_quantile", 1.0))
        centroids[ids] = means
        if getattr(stage.method, "radius_", None) is not None:   # HDBSCAN: new rows beyond a cluster's radius are noise
            stage.method.radius_ = np.zeros(len(centroids), np.float32)
            stage.method.radius_[ids] = radii
        stage.method.centroids_ = centroids
        kept_z = stage.red.method == "umap" or (stage.near is not None and stage.near.z is not None)   # UMAP, consensus
        stage.near = Neighbours.fitted(p, clusters, z if kept_z else None)
    nearest = assign(np.ascontiguousarray(z, np.float32), centroids, stage.method.gpu)[1]
    return Placed(stage, centroids, distances(z, labels, centroids, nearest))
