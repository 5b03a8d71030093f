"""Ward agglomerative clustering (scikit-learn `AgglomerativeClustering(linkage="ward")`): cluster.method=agglomerative.

k clusters (kmeans.k or kmeans.search, as for k-means), built bottom-up: each step merges the two clusters whose
merge least increases the within-cluster variance. Deterministic (no seed, no restarts). It holds every pairwise
distance (n^2 / 2 float64: 10,000 rows take 400 MB, and the time grows as n^2), so it refuses more than
`agglomerative.max_rows` rows: cluster.method=kmeans for larger folders.

Each cluster is kept as its centroid (the mean of its rows, in preprocess.npz); new clips (mode=assign) join the
cluster of their nearest fitted rows (pipeline.Stage, neighbours.py): Ward's clusters are not its centroids' cells.
"""
from __future__ import annotations

import numpy as np

from audioclust import checks
from audioclust.cluster.methods import Method
from audioclust.errors import ConfigError


class Agglomerative(Method):
    name = "agglomerative"

    def __init__(self, max_rows: int = 10000, **run):
        super().__init__(**run)
        self.options = {"max_rows": checks.number("agglomerative.max_rows", max_rows, integer=True)}

    def fit(self, x, k) -> Agglomerative:
        from sklearn.cluster import AgglomerativeClustering

        n, k, limit = len(x), int(k), self.options["max_rows"]
        if n > limit:
            raise ConfigError(f"cluster.method=agglomerative holds n^2/2 distances: {n} rows is more than "
                              f"agglomerative.max_rows={limit}; use cluster.method=kmeans for this many")
        if not 1 <= k <= n:
            raise ConfigError(f"kmeans.k={k} must be between 1 and the number of clips ({n})")
        x = np.asarray(x, dtype=np.float64)
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(x).astype(np.int64)
        centroids = np.stack([x[labels == c].mean(0) for c in range(k)])
        self.labels_, self.centroids_ = labels, centroids.astype(np.float32)
        self.distances_ = np.linalg.norm(x - centroids[labels], axis=1).astype(np.float32)
        return self
