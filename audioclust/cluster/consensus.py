"""Consensus of several encoders' clusterings (cluster.method=consensus): each member clustered on its own, the
clusterings combined by co-association.

    audioclust-cluster encoder=mix 'encoder.members=[aisfx,birdnet,speech,speaker]' cluster.method=consensus data.root=...

With encoder=mix each member's columns (the encoder's `dim_groups`) go through the run's own recipe by themselves
(preprocess -> reduce -> k-means with k clusters, as a single-encoder run), `runs` times, with the seeds
seed x runs, ..., seed x runs + runs - 1 (so two runs' seeds never share a clustering); with any other encoder its
one embedding does, `runs` times. Each member's clusterings vote with the mean silhouette of its clusters in its own
reductions (a label-free measure of how distinct they are), and a member under `keep` x the best member's does not
vote at all. Two rows' co-association is the weighted fraction of the votes that put them together; the clusters
are those of average-linkage clustering of 1 - co-association, cut at k (Fred and Jain's evidence accumulation).
Concatenating the members instead lets a member that does not hear the sounds move every distance (BENCHMARKS.md
"Combining encoders").

The fit holds the n x n co-association (float32) and scipy's n^2 / 2 float64 distances (made from it a row at a
time): 10,000 rows take about 1.2 GB (measured peak; 2.0 GB with a full distance matrix), so more than
`consensus.max_rows` rows are refused. The reduced features written with the clusters (the map, the distances to
the centroids) are the members' first reductions side by side, each scaled to unit variance. New clips (mode=assign)
join the cluster of their nearest fitted rows (pipeline.Stage, neighbours.py) in the kept members' columns, as after
UMAP.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from audioclust import checks
from audioclust.cluster.density import cluster_stats, distances
from audioclust.cluster.methods import RUN_KEYS, KMeans, Method
from audioclust.errors import ConfigError


def coassociation(labelings: np.ndarray, weights=None) -> np.ndarray:
    """(n, L) labelings (each column one clustering) -> (n, n) float32: the (weighted, by `weights` (L,); default
    alike) fraction of them that put two rows together (a label < 0, noise, is with no row)."""
    labelings = np.asarray(labelings)
    n, runs = labelings.shape
    w = np.ones(runs, np.float32) if weights is None else np.asarray(weights, np.float32)
    out = np.zeros((n, n), np.float32)
    for j in range(runs):
        col = labelings[:, j]
        out += w[j] * ((col[:, None] == col[None, :]) & (col >= 0)[:, None])
    out /= np.float32(max(float(w.sum()), 1e-12))
    np.fill_diagonal(out, 1.0)
    return out


def average_linkage(similarity: np.ndarray, k: int) -> np.ndarray:
    """Labels 0..k-1 of the rows: average-linkage clustering of 1 - similarity cut into (at most) k clusters,
    numbered by their first row (deterministic)."""
    from scipy.cluster.hierarchy import cut_tree, linkage

    if len(similarity) == 1:
        return np.zeros(1, np.int64)
    n = len(similarity)
    d, at = np.empty(n * (n - 1) // 2, np.float64), 0   # the condensed distances, a row at a time (no n x n float64)
    for i in range(n - 1):
        d[at:at + n - 1 - i] = 1.0 - similarity[i, i + 1:]
        at += n - 1 - i
    np.clip(d, 0.0, None, out=d)
    cut = cut_tree(linkage(d, "average"), n_clusters=min(int(k), n)).ravel()   # (fcluster's maxclust gave 1 cluster
    # of 3 rows at k=2 in scipy 1.13, the oldest allowed)
    return np.unique(cut, return_inverse=True)[1].astype(np.int64)


class Consensus(Method):
    """fit(labelings, k): (n, L) base clusterings -> k clusters (labels_); located(z) then gives their centroids
    and distances in the reduced features z. pipeline.Stage makes the base clusterings (member_labelings)."""

    name = "consensus"
    combines = True   # pipeline.Stage: fitted on its members' clusterings, not on the reduced features

    def __init__(self, runs: int = 5, keep: float = 0.85, max_rows: int = 10000, kmeans: dict | None = None, **run):
        """kmeans: the members' k-means options (conf/cluster/method/consensus.yaml: the run's kmeans.*, whose k,
        search and gpu are the run's and left out here); None: fit_kmeans's defaults."""
        super().__init__(**run)
        self.options = {"runs": checks.number("consensus.runs", runs, integer=True),
                        "keep": checks.number("consensus.keep", keep, strict=False),
                        "max_rows": checks.number("consensus.max_rows", max_rows, integer=True),
                        "kmeans": {k: v for k, v in dict(kmeans or {}).items() if k not in (*RUN_KEYS, "_target_")}}
        KMeans(**self.options["kmeans"])   # a wrong option stops the run here, before any member is clustered
        self.members_: list[dict] = []   # after a fit: each member's silhouette and whether it was kept

    def check_rows(self, n: int, k: int) -> None:
        """Before any member is clustered: a keep above 1, too many rows, or a k the rows cannot hold, stop the run."""
        if self.options["keep"] > 1:
            raise ConfigError(f"consensus.keep must be between 0 and 1 (a fraction of the best member's silhouette), "
                              f"got {self.options['keep']}")
        limit = self.options["max_rows"]
        if n > limit:
            raise ConfigError(f"cluster.method=consensus holds an n x n co-association: {n} rows is more than "
                              f"consensus.max_rows={limit}; use cluster.method=kmeans for this many")
        if not 1 <= int(k) <= n:
            raise ConfigError(f"kmeans.k={k} must be between 1 and the number of clips ({n})")

    def fit(self, x, k, weights=None) -> Consensus:
        """x: (n, L) labelings; weights: (L,) each one's vote (default alike)."""
        labelings = np.asarray(x)
        self.check_rows(len(labelings), k)
        self.labels_ = average_linkage(coassociation(labelings, weights), int(k))
        return self

    def located(self, z: np.ndarray) -> Consensus:
        """Centroids (the mean of each cluster's rows of z) and each row's distance to its own: the rules that
        locate HDBSCAN's clusters (density.cluster_stats, density.distances; a consensus has no noise)."""
        self.centroids_ = cluster_stats(z, self.labels_)[0]
        self.distances_ = distances(z, self.labels_, self.centroids_, np.zeros(len(self.labels_), np.float32))
        return self


class Members(NamedTuple):
    """member_labelings' result: the (n, members x runs) clusterings, the member of each, each member's first
    reduction (scaled to unit variance) and the mean silhouette of its clusterings in its own reductions (None where
    undefined)."""
    labelings: np.ndarray
    owner: np.ndarray
    reduced: list[np.ndarray]
    silhouette: list[float | None]

    def votes(self, keep: float) -> np.ndarray:
        """Each member's vote: its silhouette where it is at least keep x the best member's, else 0 (dropped). A
        member whose clusters are far less distinct than another's is heard as noise beside it (on spoken digits the
        speech model's clusters reach 0.83, the general-sound models' 0.60-0.67, and the latter would outvote it);
        among the others, the more distinct a member's clusters, the more its clusterings weigh. All alike where no
        member's silhouette is above 0."""
        s = np.array([-np.inf if v is None else v for v in self.silhouette])
        if not np.isfinite(s).any() or s.max() <= 0:
            return np.ones(len(s))
        return np.where(s >= keep * s.max(), s, 0.0)


def member_labelings(x, groups: np.ndarray | None, k: int, runs: int, stage_of: Callable[[int], object],
                     seed: int = 0) -> Members:
    """Each member's clusterings: the columns of x where groups == g (all columns when groups is None), fitted by
    stage_of(seed * runs + r) for r < runs (modulo 2^31)."""
    from audioclust.cluster.metrics import silhouette

    groups = np.zeros(x.shape[1], np.int64) if groups is None else np.asarray(groups)
    if len(groups) != x.shape[1]:
        raise ConfigError(f"cluster.method=consensus: {len(groups)} column groups for embeddings of {x.shape[1]} columns")
    labelings, owner, reduced, sil = [], [], [], []
    for i, g in enumerate(np.unique(groups)):
        part = np.ascontiguousarray(np.asarray(x[:, groups == g]), np.float32)
        scores = []
        for r in range(runs):
            labels, _, z = stage_of((seed * runs + r) % 2 ** 31).fit(part, k)   # (a seed FAISS and UMAP take)
            labelings.append(labels)
            owner.append(i)
            scores.append(silhouette(z, labels, seed=seed))
            if r == 0:
                z = np.asarray(z, np.float32)
                reduced.append((z - z.mean(0)) / max(float(z.std()), 1e-12))
        known = [v for v in scores if v is not None]
        sil.append(float(np.mean(known)) if known else None)
    return Members(np.stack(labelings, 1), np.asarray(owner), reduced, sil)
