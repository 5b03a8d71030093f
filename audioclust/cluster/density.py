"""HDBSCAN (scikit-learn) for when the number of clusters is not known, and how new clips are put into its clusters:
cluster.method=hdbscan, its options hdbscan.* (conf/cluster/method/hdbscan.yaml).

HDBSCAN finds the clusters and leaves clips that belong to none as noise (cluster -1). Each cluster is then
summarised by what is stored in preprocess.npz (plain arrays, no pickles): its centroid (the mean of its members in
the reduced space) and its radius (the `radius_quantile` quantile of its members' distances to that centroid).

Distances (assignments.csv `distance`): a member's distance to its own cluster's centroid; a noise clip's distance
to the nearest centroid (how far it is from being in any cluster).

New clips (mode=assign; scikit-learn has no `approximate_predict`): the cluster of their nearest fitted rows, kept
for it (pipeline.Stage, neighbours.py; noise where those are noise), if the clip lies within that cluster's radius
(in the reduced space; after UMAP the clip lies where that fitted row does), else noise (-1). A fit by an older
audioclust, which kept no rows: the nearest centroid within its radius (HDBSCAN.assign).
"""
from __future__ import annotations

import numpy as np

from audioclust import checks
from audioclust.cluster.methods import NOISE, Method
from audioclust.errors import ConfigError

SELECTIONS = ("eom", "leaf")


class HDBSCAN(Method):
    """The clusters HDBSCAN finds (k is not given), members labelled 0..k-1 and noise -1; each cluster kept as its
    centroid and radius (radius_), new rows within the nearest centroid's radius join it."""

    name, takes_k, noise = "hdbscan", False, True

    def __init__(self, min_cluster_size: int | None = None, min_samples: int | None = None, selection: str = "eom",
                 radius_quantile: float = 1.0, **run):
        super().__init__(**run)
        check_options(min_cluster_size, min_samples, selection, radius_quantile)
        self.options = dict(min_cluster_size=min_cluster_size, min_samples=min_samples, selection=selection,
                            radius_quantile=radius_quantile)
        self.radius_ = None

    def fit(self, x, k=None) -> HDBSCAN:
        o = self.options
        self.labels_ = fit_hdbscan(x, o["min_cluster_size"], o["min_samples"], o["selection"])
        self.centroids_, self.radius_ = cluster_stats(x, self.labels_, o["radius_quantile"])
        self.distances_ = distances(x, self.labels_, self.centroids_, super().assign(x)[1])
        return self

    def assign(self, x):
        """The nearest cluster if within its radius, else noise (-1); the distance to the nearest centroid."""
        labels, dists = super().assign(x)
        return self.admit(labels, dists), dists

    def admit(self, labels, distances):
        """Rows beyond their cluster's radius are noise."""
        return within_radius(labels, distances, self.radius_)

    def state(self) -> dict:
        return {**super().state(), "cluster_radius": self.radius_}

    @classmethod
    def from_state(cls, state, gpu="auto") -> HDBSCAN:
        method = super().from_state(state, gpu)
        method.radius_ = np.asarray(state["cluster_radius"])
        return method


def auto_min_cluster_size(n: int) -> int:
    """hdbscan.min_cluster_size=null: 1% of the clips, at least 5 and at most 500 (a few hundred clips: 5;
    3,000: 30; 50,000 and more: 500)."""
    return int(min(max(5, n // 100), 500))


def check_options(min_cluster_size, min_samples, selection: str, radius_quantile) -> None:
    checks.number("hdbscan.min_cluster_size", min_cluster_size, low=2, strict=False, integer=True, optional=True)
    checks.number("hdbscan.min_samples", min_samples, low=1, strict=False, integer=True, optional=True)
    checks.choice("hdbscan.selection", selection, SELECTIONS)
    checks.number("hdbscan.radius_quantile", radius_quantile)
    if radius_quantile > 1:
        raise ConfigError(f"hdbscan.radius_quantile must be in (0, 1] (1: the farthest member), got {radius_quantile}")


def fit_hdbscan(z, min_cluster_size: int | None = None, min_samples: int | None = None,
                selection: str = "eom") -> np.ndarray:
    """HDBSCAN labels of the rows of z: 0..k-1, -1 for noise. Refuses (ConfigError) when every clip is noise."""
    from sklearn.cluster import HDBSCAN

    z = np.ascontiguousarray(z, dtype=np.float64)
    n = len(z)
    mcs = auto_min_cluster_size(n) if min_cluster_size is None else int(min_cluster_size)
    if n < max(mcs, 2):
        raise ConfigError(f"cluster.method=hdbscan needs at least hdbscan.min_cluster_size={mcs} clips, got {n}")
    labels = HDBSCAN(min_cluster_size=mcs, min_samples=None if min_samples is None else min(int(min_samples), n),
                     cluster_selection_method=selection, copy=True).fit_predict(z).astype(np.int64)
    if not (labels >= 0).any():
        raise ConfigError(f"HDBSCAN found no clusters in {n} clips (all noise): lower hdbscan.min_cluster_size "
                          f"(now {mcs}) or hdbscan.min_samples, or reduce first (reduce.method=umap)")
    return labels


def cluster_stats(z, labels, radius_quantile: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (k, d): each cluster's mean; radii (k,): the quantile of its members' distances to it."""
    z, labels = np.asarray(z, dtype=np.float64), np.asarray(labels)
    k = int(labels.max()) + 1 if len(labels) else 0
    centroids, radii = np.zeros((k, z.shape[1]), np.float32), np.zeros(k, np.float32)
    for c in range(k):
        members = z[labels == c]
        if not len(members):
            raise ValueError(f"cluster {c} has no members (labels must be 0..k-1 and -1)")
        centroids[c] = members.mean(0)
        radii[c] = np.quantile(np.linalg.norm(members - centroids[c], axis=1), radius_quantile)
    return centroids, radii


def distances(z, labels, centroids, nearest_dist) -> np.ndarray:
    """Members: the distance to their own centroid; noise: nearest_dist (to the nearest centroid)."""
    z, labels = np.asarray(z, dtype=np.float64), np.asarray(labels)
    out = np.asarray(nearest_dist, dtype=np.float32).copy()
    member = labels >= 0
    out[member] = np.linalg.norm(z[member] - centroids[labels[member]], axis=1)
    return out


def within_radius(labels, dists, radii) -> np.ndarray:
    """labels with every clip beyond its nearest cluster's radius set to noise (-1). A small tolerance keeps the
    farthest fitted member in its cluster despite float32 rounding of the distances."""
    labels = np.asarray(labels).astype(np.int64, copy=True)
    radii = np.asarray(radii, dtype=np.float64)
    if len(labels):
        r = radii[labels]
        labels[np.asarray(dists, dtype=np.float64) > r * (1 + 1e-4) + 1e-5] = NOISE
    return labels
