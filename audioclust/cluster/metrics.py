"""Clustering scores: Hungarian-matched accuracy, NMI, ARI (when labels exist) and silhouette (always).

Every value returned is a plain Python int/float/list/None, so the dict goes straight into json.dumps.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix


def _cluster_ids(clusters) -> np.ndarray:
    c = np.asarray(clusters).reshape(-1)
    if c.size and not np.issubdtype(c.dtype, np.integer):
        if not np.issubdtype(c.dtype, np.number) or not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise ValueError("cluster ids must be integers")
        c = c.astype(np.int64)
    if c.size and c.min() < 0:
        raise ValueError(f"cluster ids must be >= 0, got {int(c.min())} (unassigned points?)")
    return c.astype(np.int64, copy=False)


def cluster_accuracy(labels, clusters) -> float:
    """Share of points whose cluster maps to their label under the best one-to-one matching.

    Clusters and classes need not be equally many: clusters left without a class (or classes without
    a cluster) count as wrong. Labels may be any hashable values, strings included.
    """
    labels, clusters = np.asarray(labels).reshape(-1), np.asarray(clusters).reshape(-1)
    if len(labels) != len(clusters):
        raise ValueError(f"{len(labels)} labels but {len(clusters)} cluster ids")
    if len(labels) == 0:
        return 0.0
    table = contingency_matrix(labels, clusters)  # rows: classes, columns: clusters
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def silhouette(x, clusters, max_points: int = 5000, seed: int = 0) -> float | None:
    """Silhouette on a seeded random subsample of at most max_points; None where it is undefined."""
    x, clusters = np.asarray(x, dtype=np.float64), _cluster_ids(clusters)
    if x.ndim == 1:
        x = x[:, None]
    if len(x) > max_points:
        pick = np.sort(np.random.default_rng(seed).choice(len(x), max(int(max_points), 0), replace=False))
        x, clusters = x[pick], clusters[pick]
    n_used = len(np.unique(clusters))
    # sklearn needs 2 <= clusters <= points - 1; NaN/inf embeddings would give NaN or raise
    if n_used < 2 or n_used > len(x) - 1 or not np.all(np.isfinite(x)):
        return None
    value = float(silhouette_score(x, clusters))
    return value if np.isfinite(value) else None


def clustering_scores(embeddings, clusters, labels=None, max_silhouette: int = 5000, seed: int = 0) -> dict:
    """Scores of one clustering, JSON serialisable.

    Always: n_clips, n_clusters (non-empty ones), silhouette (None where undefined) and cluster_sizes
    (clips per cluster id 0..max). With labels (a sequence, None where unknown) also n_labelled and
    acc / nmi / ari computed on the labelled clips only (None when no clip is labelled).
    """
    clusters = _cluster_ids(clusters)
    x = np.asarray(embeddings)
    if len(x) != len(clusters):
        raise ValueError(f"{len(x)} embeddings but {len(clusters)} cluster ids")
    sizes = np.bincount(clusters) if len(clusters) else np.zeros(0, dtype=np.int64)
    out = {"n_clips": int(len(clusters)), "n_clusters": int((sizes > 0).sum()),
           "cluster_sizes": [int(s) for s in sizes],
           "silhouette": silhouette(x, clusters, max_silhouette, seed)}
    if labels is None:
        return out
    labels = list(labels)
    if len(labels) != len(clusters):
        raise ValueError(f"{len(labels)} labels but {len(clusters)} cluster ids")
    known = np.array([lab is not None for lab in labels], dtype=bool)
    # compare as strings: mixed int/str labels cannot be sorted by numpy, and 1 vs "1" is one class
    y = np.array([str(lab) for lab, k in zip(labels, known) if k], dtype=object)
    c = clusters[known]
    out["n_labelled"] = int(known.sum())
    if len(y) == 0:
        out.update(acc=None, nmi=None, ari=None)
        return out
    out.update(acc=cluster_accuracy(y, c), nmi=float(normalized_mutual_info_score(y, c)),
               ari=float(adjusted_rand_score(y, c)))
    return out
