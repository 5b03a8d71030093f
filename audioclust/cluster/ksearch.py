"""Choosing k without labels: k-means over a range of k, scored by silhouette, Calinski-Harabasz, Davies-Bouldin."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from audioclust.cluster import kmeans
from audioclust.cluster.metrics import silhouette
from audioclust.errors import ConfigError


def search_k(z: np.ndarray, k_min: int, k_max: int, seed: int = 0, niter: int = 25, nredo: int = 1,
             gpu="auto") -> dict:
    """Scores for every k in [k_min, k_max]; the pick is the k with the highest silhouette."""
    k_max = min(int(k_max), len(z) - 1)
    if k_min < 2 or k_min > k_max:
        raise ConfigError(f"kmeans.search needs 2 <= min <= max < number of clips ({len(z)}), "
                          f"got [{k_min}, {k_max}]")
    rows = []
    for k in range(int(k_min), k_max + 1):
        labels, _ = kmeans.assign(z, kmeans.fit_kmeans(z, k, niter, nredo, seed, gpu=gpu), gpu)
        several = len(np.unique(labels)) > 1
        rows.append({"k": k, "silhouette": silhouette(z, labels, seed=seed),
                     "calinski_harabasz": float(calinski_harabasz_score(z, labels)) if several else None,
                     "davies_bouldin": float(davies_bouldin_score(z, labels)) if several else None})
    scored = [r for r in rows if r["silhouette"] is not None]
    best = max(scored, key=lambda r: r["silhouette"])["k"] if scored else int(k_min)
    return {"scores": rows, "best_k": best, "criterion": "silhouette"}
