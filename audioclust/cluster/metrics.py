"""Clustering scores: Hungarian-matched accuracy, NMI, AMI, ARI (when labels exist) and silhouette (always).

AMI (mutual information adjusted for chance) is what the bioacoustic embedding benchmarks report; unlike NMI it
does not rise with the number of clusters alone.

Every value returned is a plain Python int/float/list/None, so the dict goes straight into json.dumps.

Noise (cluster -1, HDBSCAN): `clustering_scores` reports n_noise and noise_fraction; acc / nmi / ari score every
labelled clip, noise included (NMI and ARI: noise is one more label; ACC: a noise clip is never matched, so it
counts as wrong); acc_clustered / nmi_clustered / ami_clustered / ari_clustered score the labelled clips in a cluster only. The
silhouette and cluster sizes are over the clustered clips.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix


def _cluster_ids(clusters, noise: bool = False) -> np.ndarray:
    """Integer cluster ids >= 0 (>= -1 with noise=True: -1 is noise)."""
    c = np.asarray(clusters).reshape(-1)
    if c.size and not np.issubdtype(c.dtype, np.integer):
        if not np.issubdtype(c.dtype, np.number) or not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise ValueError("cluster ids must be integers")
        c = c.astype(np.int64)
    if c.size and c.min() < (-1 if noise else 0):
        raise ValueError(f"cluster ids must be >= {-1 if noise else 0}, got {int(c.min())} (unassigned points?)")
    return c.astype(np.int64, copy=False)


def cluster_accuracy(labels, clusters, noise=None) -> float:
    """Share of points whose cluster maps to their label under the best one-to-one matching.

    Clusters and classes need not be equally many: clusters left without a class (or classes without
    a cluster) count as wrong. Labels may be any hashable values, strings included. Points in the cluster
    `noise` (e.g. -1) are never matched: they count as wrong.
    """
    labels, clusters = np.asarray(labels).reshape(-1), np.asarray(clusters).reshape(-1)
    if len(labels) != len(clusters):
        raise ValueError(f"{len(labels)} labels but {len(clusters)} cluster ids")
    if len(labels) == 0:
        return 0.0
    keep = np.ones(len(clusters), bool) if noise is None else clusters != noise
    if not keep.any():
        return 0.0
    table = contingency_matrix(labels[keep], clusters[keep])  # rows: classes, columns: clusters
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / len(labels))


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


def clustering_scores(embeddings, clusters, labels=None, max_silhouette: int = 5000, seed: int = 0,
                      noise: bool | None = None) -> dict:
    """Scores of one clustering, JSON serialisable.

    Always: n_clips, n_clusters (non-empty ones, noise not counted), n_noise and noise_fraction (clips in
    cluster -1), silhouette (over the clustered clips; None where undefined) and cluster_sizes (clips per cluster
    id 0..max). With labels (a sequence, None where unknown) also n_labelled and acc / nmi / ami / ari computed on the
    labelled clips only (None when no clip is labelled; noise scored as the module docstring says), and, when
    noise is True (None: when any clip is noise), acc_clustered / nmi_clustered / ami_clustered / ari_clustered.
    """
    clusters = _cluster_ids(clusters, noise=True)
    x = np.asarray(embeddings)
    if len(x) != len(clusters):
        raise ValueError(f"{len(x)} embeddings but {len(clusters)} cluster ids")
    member = clusters >= 0
    n_noise = int((~member).sum())
    noise = n_noise > 0 if noise is None else bool(noise)
    sizes = np.bincount(clusters[member]) if member.any() else np.zeros(0, dtype=np.int64)
    xm = x if member.all() else np.asarray(x)[member]
    out = {"n_clips": int(len(clusters)), "n_clusters": int((sizes > 0).sum()),
           "n_noise": n_noise, "noise_fraction": float(n_noise / len(clusters)) if len(clusters) else 0.0,
           "cluster_sizes": [int(s) for s in sizes],
           "silhouette": silhouette(xm, clusters[member], max_silhouette, seed)}
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
    out.update(label_scores(y, c, noise=-1))
    if noise:
        m = c >= 0
        out.update({f"{k}_clustered": v for k, v in label_scores(y[m], c[m]).items()})
    return out


def label_scores(y, c, noise=None) -> dict:
    if len(y) == 0:
        return {"acc": None, "nmi": None, "ami": None, "ari": None}
    return {"acc": cluster_accuracy(y, c, noise), "nmi": float(normalized_mutual_info_score(y, c)),
            "ami": float(adjusted_mutual_info_score(y, c)), "ari": float(adjusted_rand_score(y, c))}


def grouping_scores(clusters, groupings: dict) -> dict:
    """How far the clusters follow other groupings of the same rows (folder, file, a manifest's recording, site or
    date): {name: {n_groups, nmi, ami, ari}} over the rows with a value (None: unknown) and in a cluster. A high
    score against the recorder or the site, with a low one against the labels, shows clusters of recording
    conditions rather than of sounds. Groupings with fewer than 2 groups, or one group per row, are left out."""
    clusters = _cluster_ids(clusters, noise=True)
    out = {}
    for name, values in groupings.items():
        known = np.array([v is not None and v != "" and c >= 0 for v, c in zip(values, clusters)], bool)
        g = np.array([str(v) for v, k in zip(values, known) if k], dtype=object)
        n = len(set(g.tolist()))
        if n < 2 or n == len(g):
            continue
        scores = label_scores(g, clusters[known])
        out[name] = {"n_groups": n, **{k: scores[k] for k in ("nmi", "ami", "ari")}}
    return out
