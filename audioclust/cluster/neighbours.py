"""New rows into clusters that their centroids alone cannot place them in: by the nearest fitted rows.

UMAP cannot place new rows without its fitted model (a pickle, which outputs never hold), and the clusters of
HDBSCAN (or of any method but k-means) are not the cells of their centroids. So a stage (pipeline.Stage) fitted with
reduce.method=umap, or with such a method, keeps its fitted rows as they entered the reduction (preprocessed:
z-scored, unit length with preprocess=l2) with their labels, and after UMAP their reduced coordinates, in
preprocess.npz as plain arrays (float16 rows where every value fits, else float32: 2 bytes per dimension per row).

A new row, preprocessed as the fitted ones were, takes the label most common among its `k` nearest fitted rows
(exact FAISS search, Euclidean: cosine order after preprocess=l2; ties go to the nearer row; -1, noise, is a label
like the others); k=1 (the nearest row) measured best (BENCHMARKS.md "Assignment after every recipe"). Its reduced
coordinates: computed (reduce none or pca) or, after UMAP, those of the fitted row it took its label from; the stage
measures its distance to its cluster's centroid from there, and the method may still call it noise (Method.admit:
HDBSCAN's radius). A fitted row assigned again finds itself first: same cluster, same distance.
"""
from __future__ import annotations

import numpy as np

from audioclust.cluster.kmeans import chunk_rows, flat_index

K = 1          # neighbours that vote (bench/assign.py)
HALF = 6e4     # float16's largest finite value is 65504


class Neighbours:
    """The fitted rows (n, d), their labels (n,), their reduced coordinates (n, dim) or None, and how many vote."""

    def __init__(self, rows: np.ndarray, labels: np.ndarray, z: np.ndarray | None = None, k: int = K):
        self.rows, self.labels, self.z, self.k = rows, np.asarray(labels, np.int64), z, int(k)

    @classmethod
    def fitted(cls, rows, labels, z=None, k: int = K) -> Neighbours:
        """Kept from a fit: the rows as float16 where every value fits, else float32."""
        rows = np.asarray(rows)
        dtype = np.float16 if len(rows) and np.abs(rows).max() < HALF else np.float32
        return cls(rows.astype(dtype), labels, None if z is None else np.array(z, np.float32), k)

    def subset(self, keep: np.ndarray) -> Neighbours:
        """Only the fitted rows at `keep` place new rows."""
        return Neighbours(self.rows[keep], self.labels[keep], None if self.z is None else self.z[keep], self.k)

    def __call__(self, x: np.ndarray, gpu="auto", batch: int = 16384) -> tuple[np.ndarray, np.ndarray]:
        """Each row's label and the index of the fitted row it took it from (x: preprocessed as the fitted rows)."""
        index, step = flat_index(self.rows.shape[1], gpu), chunk_rows(self.rows.shape[1], 4)
        for s in range(0, len(self.rows), step):
            index.add(np.ascontiguousarray(self.rows[s:s + step], np.float32))
        k = min(self.k, len(self.rows))
        labels, at = np.empty(len(x), np.int64), np.empty(len(x), np.int64)
        for s in range(0, len(x), batch):
            near = index.search(np.ascontiguousarray(x[s:s + batch], np.float32), k)[1]
            labels[s:s + batch], at[s:s + batch] = vote(self.labels[near], near)
        return labels, at

    def state(self) -> dict[str, np.ndarray]:
        return {"neighbour_rows": self.rows, "neighbour_labels": self.labels, "neighbour_k": np.array(self.k),
                "neighbour_z": np.zeros(0, np.float32) if self.z is None else self.z}

    @classmethod
    def from_state(cls, state) -> Neighbours | None:
        """None for a state without fitted rows (k-means without UMAP, or a fit by an older audioclust)."""
        if "neighbour_rows" not in state:
            return None
        z = np.asarray(state["neighbour_z"])
        return cls(np.asarray(state["neighbour_rows"]), state["neighbour_labels"], z if z.size else None,
                   int(state["neighbour_k"]))


def vote(labels: np.ndarray, near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label most common in each row of labels (n, k), its neighbours nearest first (ties: the nearer), and
    the neighbour (from near, (n, k)) nearest among those with it."""
    counts = np.stack([(labels == labels[:, [j]]).sum(1) for j in range(labels.shape[1])], 1)
    best = counts.argmax(1)   # the first of the most common: the nearest row with the winning label
    rows = np.arange(len(labels))
    return labels[rows, best], near[rows, best]
