"""Clustering scores: Hungarian-matched accuracy, NMI, ARI (when labels exist) and silhouette (always)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix


def cluster_accuracy(labels, clusters) -> float:
    """Best one-to-one matching of clusters to labels; clusters left unmatched count as wrong."""
    table = contingency_matrix(np.asarray(labels), np.asarray(clusters))
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def silhouette(x: np.ndarray, clusters: np.ndarray, max_points: int = 5000, seed: int = 0):
    if len(np.unique(clusters)) < 2 or len(x) < 3:
        return None
    n = min(len(x), max_points)
    pick = np.random.default_rng(seed).choice(len(x), n, replace=False)
    if len(np.unique(clusters[pick])) < 2:
        return None
    return float(silhouette_score(x[pick], clusters[pick]))


def clustering_scores(embeddings, clusters, labels=None, max_silhouette: int = 5000, seed: int = 0) -> dict:
    clusters = np.asarray(clusters)
    sizes = np.bincount(clusters, minlength=int(clusters.max()) + 1 if len(clusters) else 0)
    out = {"n_clips": int(len(clusters)), "n_clusters": int((sizes > 0).sum()),
           "cluster_sizes": [int(s) for s in sizes],
           "silhouette": silhouette(np.asarray(embeddings), clusters, max_silhouette, seed)}
    if labels is not None:
        known = np.array([lab is not None for lab in labels])
        y = np.array([str(lab) for lab in labels], dtype=object)[known]
        c = clusters[known]
        if len(y):
            out.update(n_labelled=int(known.sum()), acc=cluster_accuracy(y, c),
                       nmi=float(normalized_mutual_info_score(y, c)), ari=float(adjusted_rand_score(y, c)))
    return out
