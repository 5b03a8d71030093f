"""Seeded samples of clips stratified by cluster: the explorer's map, the W&B map and table of clips."""
from __future__ import annotations

import numpy as np


def stratified_sample(clusters, max_rows: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most max_rows clips: all of them when there are no more, else a seeded sample in which
    every cluster (noise, -1, included) keeps its share and at least one clip (when there are at most max_rows
    clusters; else one clip of each of max_rows seeded clusters)."""
    clusters = np.asarray(clusters)
    n = len(clusters)
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    ids, inverse, sizes = np.unique(clusters, return_inverse=True, return_counts=True)
    if len(ids) > max_rows:
        quota = np.zeros(len(ids), np.int64)
        quota[rng.choice(len(ids), max_rows, replace=False)] = 1
    else:   # one clip each, the rest shared in proportion to the clips left (largest remainders round up)
        share = (max_rows - len(ids)) * (sizes - 1) / (n - len(ids))
        quota = 1 + np.floor(share).astype(np.int64)
        left = max_rows - int(quota.sum())
        quota[np.argsort(-(share - np.floor(share)), kind="stable")[:left]] += 1
    by_cluster = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    parts = [rng.choice(by_cluster[s: s + m], q, replace=False) for s, m, q in zip(starts, sizes, quota) if q]
    return np.sort(np.concatenate(parts))
