"""cluster.py's clustering: preprocess -> reduce -> a clustering method, optionally co-clustered with voice groups.

The method (audioclust/cluster/methods.py) is one object in the Stage: kmeans (k given or searched), hdbscan
(density.py: the number of clusters found, clips in none labelled -1 = noise; not with voice groups), agglomerative
(agglomerative.py), or any other registered one; `cluster.method` names it (conf/cluster/method/<name>.yaml).

Voice groups (audioclust/cluster/voice.py) standardise the embeddings within groups of clips that share a voice or a
channel. With `rounds` > 0 the groups and the clusters are estimated in turn: the clusters (what is said)
are found, each clip's long-term spectrum is centred within its cluster (what is left is who says it and
through what), the spectra are grouped, the embeddings are standardised per group and clustered again.
`target=voice` returns the voice groups themselves (e.g. speakers) instead of the clusters.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np

from audioclust import checks
from audioclust.cluster.density import distances
from audioclust.cluster.kmeans import Preprocess, assign
from audioclust.cluster.methods import KMeans, Method, method_class
from audioclust.cluster.neighbours import Neighbours
from audioclust.cluster.reduce import Reducer
from audioclust.cluster.voice import group_means, group_stats, standardise
from audioclust.errors import ConfigError

TARGETS = ("content", "voice")
FIT_ON = ("auto", "files", "rows")
VOICE_KMEANS = dict(niter=20, nredo=10, init="kmeans++")


class Stage:
    """One preprocess -> reduce -> clustering method (methods.Method; default: KMeans() with fit_kmeans's defaults),
    fitted on some features and re-applied to new ones. seed: the reducer's (the method has its own).
    New rows join the nearest centroid where the fit did so too (k-means, no UMAP), else the cluster of their
    nearest fitted rows (neighbours.py: for HDBSCAN or agglomerative, and after UMAP, which stores no model), the
    same in the run that fitted the stage as in any later one."""

    def __init__(self, preprocess: str = "l2", reduce: dict | None = None, method: Method | None = None, seed: int = 0):
        self._args = (preprocess, dict(reduce or {}))
        self.method = KMeans(seed=seed) if method is None else method
        self.pre, self.red = Preprocess(preprocess), Reducer(**(reduce or {}), seed=seed, gpu=self.method.gpu)
        self.near: Neighbours | None = None   # the fitted rows new rows are placed by, when kept
        self.relabel: np.ndarray | None = None   # k-means cell -> its curated cluster (audioclust-curate: merges)

    @property
    def centroids(self) -> np.ndarray | None:
        return self.method.centroids_

    def fresh(self, seed: int) -> Stage:
        """An unfitted stage with the same settings, another seed."""
        return Stage(*self._args, self.method.fresh(seed), seed)

    def fit(self, x, k: int | Callable, weights=None, inplace: bool = False,
            groups=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, distances and reduced features of x; k may be a function of the reduced features (k search);
        weights: per-dimension factors after the z-score (Preprocess.fit); groups: each column's member (encoder=mix's
        dim_groups), for a method that combines its members' clusterings (consensus.py). x may be memory-mapped: it is
        read a chunk of rows at a time and preprocessed into one new float32 array; inplace: into x itself (the
        caller's own float32 array, overwritten)."""
        if getattr(self.method, "combines", False):
            return self._fit_members(x, k, weights, groups)
        p = self.pre.fit(x, weights)(x, out=x if inplace else None)
        z = self.red.fit_transform(p)
        fitted = self.method.fit(z, k(z) if callable(k) else k)   # k: None for a method that finds it
        umap, m = self.red.method == "umap", self.method
        self.near = None if m.nearest_centroid and not umap else Neighbours.fitted(p, fitted.labels_, z if umap else None)
        return fitted.labels_, fitted.distances_, z

    def _fit_members(self, x, k, weights, groups):
        """cluster.method=consensus: each member's columns through this stage's recipe with k-means, `runs` seeds
        each (consensus.member_labelings); the clusterings of the members kept combined, each voting with its member's
        silhouette (Members.votes). New rows are
        placed by the nearest fitted rows in the kept members' columns (preprocessed with their weights; the dropped
        members' columns weigh 0), at the kept members' reductions side by side."""
        from audioclust.cluster.consensus import member_labelings

        if callable(k):
            raise ConfigError(f"cluster.method={self.method.name} needs kmeans.k: its members are clustered with that k "
                              "(no kmeans.search)")
        m, (preprocess, reduce) = self.method, self._args
        m.check_rows(len(x), k)
        got = member_labelings(x, groups, int(k), m.options["runs"],
                               lambda s: Stage(preprocess, reduce, KMeans(seed=s, gpu=m.gpu, **m.options["kmeans"]), s), seed=m.seed)
        votes = got.votes(m.options["keep"])
        kept = votes > 0
        m.members_ = [{"member": i, "silhouette": None if v is None else round(v, 4), "kept": bool(kept[i])}
                      for i, v in enumerate(got.silhouette)]
        z = np.concatenate([r for r, keep in zip(got.reduced, kept) if keep], 1)
        columns = kept[got.owner]
        m.fit(got.labelings[:, columns], k, votes[got.owner][columns]).located(z)
        self.red = Reducer(**{**reduce, "method": "none"})   # the reduced features are the members', kept with the rows
        heard = kept[np.zeros(x.shape[1], np.int64) if groups is None else np.asarray(groups)]   # the kept members' columns
        w = heard.astype(np.float32) * (1.0 if weights is None else np.asarray(weights, np.float32))
        self.near = Neighbours.fitted(self.pre.fit(x, w)(x), m.labels_, z)
        return m.labels_, m.distances_, z

    def assign(self, x, inplace: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels, distances (to the cluster's centroid; noise: to the nearest) and reduced features of new rows."""
        return self.place(self.pre(x, out=x if inplace else None))

    def place(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """assign() of rows already preprocessed by this stage (self.pre)."""
        if self.near is None:   # the fit's own rule: k-means without UMAP places a row by its nearest centroid
            z = self.red.transform(p)
            labels, dists = self.method.assign(z)
            return (labels if self.relabel is None else self.relabel[labels]), dists, z
        labels, at = self.near(p, self.method.gpu)
        z = self.red.transform(p) if self.near.z is None else self.near.z[at]   # after UMAP: where that row lies
        nearest = assign(z, self.method.centroids_, self.method.gpu)[1]
        dists = distances(z, labels, self.method.centroids_, nearest)
        kept = self.method.admit(labels, dists)   # HDBSCAN: beyond the cluster's radius, noise
        return kept, np.where(kept == labels, dists, nearest), z

    def state(self, prefix: str = "") -> dict:
        state = {**self.pre.state(), **self.red.state(), **self.method.state(), "cluster_method": np.array(self.method.name),
                 **(self.near.state() if self.near else {}),
                 **({"cluster_relabel": self.relabel} if self.relabel is not None else {})}
        return {prefix + k: v for k, v in state.items()}

    @classmethod
    def from_state(cls, state, prefix: str = "", gpu="auto") -> Stage:
        s = {k[len(prefix):]: state[k] for k in state if k.startswith(prefix)}
        stage = cls(method=method_class(str(s["cluster_method"])).from_state(s, gpu))
        stage.pre, stage.red, stage.near = Preprocess.from_state(s), Reducer.from_state(s), Neighbours.from_state(s)
        stage.relabel = np.asarray(s["cluster_relabel"], np.int64) if "cluster_relabel" in s else None
        return stage


def is_method(node) -> bool:
    """A clustering method's node (conf/cluster/method/<name>.yaml)."""
    return isinstance(node, Mapping) and str(node.get("_target_", "")).startswith("audioclust.cluster.")


class FileRows(NamedTuple):
    """What clusters are fitted on with cluster.fit_on=files: one row per file, however long (its windows pooled),
    and, for each row clustered, the file row it is (a file pooled anyway) or -1 (a window of a long recording)."""
    x: np.ndarray
    ltas: np.ndarray | None
    of_row: np.ndarray


class Clusterer:
    """The content stage alone (groups=0), or co-clustered with `groups` voice groups for `rounds` rounds.
    fit_on (cluster.fit_on): whether clips with long recordings among them are fitted on one row per file
    (fits_files says when, fit_files does it)."""

    def __init__(self, content: Stage, groups: int = 0, rounds: int = 0, target: str = "content",
                 voice: Stage | None = None, fit_on: str = "auto"):
        self.fit_on = checks.choice("cluster.fit_on", fit_on, FIT_ON)
        checks.number("voice.groups", groups, strict=False, integer=True)
        checks.number("voice.rounds", rounds, strict=False, integer=True)
        if checks.choice("voice.target", target, TARGETS) == "voice" and not groups:
            raise ConfigError("voice.target=voice clusters the voice groups: set voice.groups > 0 (their number)")
        if groups and getattr(content.method, "combines", False):
            raise ConfigError(f"voice groups standardise one embedding: use voice=none with cluster.method={content.method.name}")
        if groups and content.method.noise:
            raise ConfigError(f"voice groups co-cluster with clusters every clip is in: use voice=none with cluster.method="
                              f"{content.method.name} (noise clips have no cluster to centre their spectra in)")
        self.content, self.voice, self.groups, self.rounds, self.target = content, voice, groups, rounds, target
        self.voice_stats: dict = {}   # the voice groups' means, scales and long-term spectra means (state())

    @property
    def needs_ltas(self) -> bool:
        return self.groups > 0

    def fit(self, x, ltas, k: int | Callable, weights=None, groups=None):
        """Labels, distances, reduced features and centroids of the target clustering of the fitted clips.
        k: the content clusters (a function of the reduced embeddings for a k search, called once); weights and
        groups: the encoder's per-dimension weights and members (encoder=mix; no voice groups with a pretrained
        encoder)."""
        if not self.groups:
            return (*self.content.fit(x, k, weights, groups=groups), self.content.centroids)
        if ltas is None or len(x) < self.groups:
            raise ConfigError(f"voice.groups={self.groups} needs at least as many clips with a long-term spectrum")
        voice_fit, k = self._fit_groups(x, ltas, k)
        content_fit = self.content.fit(self._standardise(x, voice_fit[0]), k, inplace=True)
        if self.rounds:
            self.voice_stats["voice_ltas_means"] = group_means(ltas, content_fit[0], k)
            if "umap" not in (self.content.red.method, self.voice.red.method):   # consistent pairs, as assign
                return (*self.assign(x, ltas), self.centroids)
        return (*(content_fit if self.target == "content" else voice_fit), self.centroids)

    def fits_files(self, long: np.ndarray, k) -> bool:
        """Whether to fit on one row per file (fit_files) a folder whose files marked `long` are one row per window
        and the others one row each: fit_on=files, or auto when most files are clips (mostly long recordings: their
        windows are what is looked for) and there are at least k files."""
        long = np.asarray(long, bool)
        if self.fit_on == "rows" or not long.any():
            return False
        return self.fit_on == "files" or bool(long.sum() <= (~long).sum() and not (isinstance(k, int) and len(long) < k))

    def fit_files(self, files: FileRows, x, ltas, k: int | Callable, weights=None, groups=None):
        """fit() on one row per file, then every row of x labelled: a file's own row takes its cluster, a window of
        a long recording is assigned to the clusters (Stage.assign)."""
        labels, dists, z, centroids = self.fit(files.x, files.ltas, k, weights, groups)
        own = np.flatnonzero(files.of_row >= 0)
        if self.content.near is not None and len(own):   # new rows join the clips' rows: a recording's pooled row
            self.content.near = self.content.near.subset(files.of_row[own])   # is no sound a window is heard as
        rest = np.flatnonzero(files.of_row < 0)
        out = [np.empty((len(x), *a.shape[1:]), a.dtype) for a in (labels, dists, z)]
        for o, a in zip(out, (labels, dists, z)):
            o[own] = a[files.of_row[own]]
        if len(rest):
            for o, a in zip(out, self.assign(np.asarray(x[rest]), None if ltas is None else np.asarray(ltas[rest]))):
                o[rest] = a
        return (*out, centroids)

    def _fit_groups(self, x, ltas, k):
        """Fits the voice stage (and, with rounds, the content stage in turn); the last voice fit and k."""
        if not self.rounds:
            voice_fit = self.voice.fit(ltas, self.groups)
            self._group_stats(x, voice_fit[0])
            return voice_fit, k
        c = self.content.fit(x, k)[0]
        k = len(self.content.centroids)
        for r in range(self.rounds):
            if r:
                c = self.content.fit(self._standardise(x, voice_fit[0]), k, inplace=True)[0]
            self.voice_stats["voice_ltas_means"] = group_means(ltas, c, k)
            voice_fit = self.voice.fit(self._centred(ltas, c), self.groups)
            self._group_stats(x, voice_fit[0])
        return voice_fit, k

    def assign(self, x, ltas):
        """Labels, distances and reduced features of the target clustering (fitted state, new clips)."""
        if not self.groups:
            return self.content.assign(x)
        if ltas is None:
            raise ConfigError("these clusters were fitted with voice.groups > 0 but the embeddings carry no "
                              "long-term spectrum (re-embed with this version of audioclust)")
        if not self.rounds:
            voice_fit = self.voice.assign(ltas)
            return voice_fit if self.target == "voice" else self.content.assign(self._standardise(x, voice_fit[0]), inplace=True)
        batch = 16384   # each try holds its reduced features: groups x batch rows at once
        parts = [self._joint(np.asarray(x[s:s + batch], np.float32), np.asarray(ltas[s:s + batch], np.float32))
                 for s in range(0, max(len(x), 1), batch)]   # no clips: one empty batch, empty arrays
        return tuple(np.concatenate(p) for p in zip(*parts))

    def _joint(self, x, ltas):
        """Tries every voice group g: the clip's cluster c under g, then the group of its spectrum centred in c.
        Keeps the g that comes back to itself with the nearest cluster (the nearest cluster when none does)."""
        n, tries = len(x), []
        for g in range(self.groups):
            content_fit = self.content.assign(self._standardise(x, np.full(n, g)), inplace=True)
            tries.append((content_fit, self.voice.assign(self._centred(ltas, content_fit[0]))))
        dist = np.stack([t[0][1] for t in tries]).astype(np.float64)
        back = np.stack([t[1][0] == g for g, t in enumerate(tries)])
        best = np.argmin(np.where(back, dist, dist + 1e6), 0)
        pick = [t[1] if self.target == "voice" else t[0] for t in tries]
        rows = np.arange(n)
        return tuple(np.stack([p[i] for p in pick])[best, rows] for i in range(3))

    @property
    def centroids(self) -> np.ndarray:
        return (self.voice if self.target == "voice" else self.content).centroids

    def _standardise(self, x, g) -> np.ndarray:
        """A new float32 array (the stage may preprocess it in place)."""
        return standardise(x, g, self.voice_stats["voice_means"], self.voice_stats["voice_scales"])

    def _centred(self, ltas, c):
        return np.asarray(ltas, np.float32) - self.voice_stats["voice_ltas_means"][c]

    def _group_stats(self, x, g) -> None:
        self.voice_stats["voice_means"], self.voice_stats["voice_scales"] = group_stats(x, g, self.groups)

    def state(self) -> dict:
        out = {**self.content.state(), "voice_groups": np.array(self.groups)}
        if self.groups:
            out.update(self.voice.state("voice_"), voice_rounds=np.array(self.rounds),
                       voice_target=np.array(self.target), **self.voice_stats)
        return out

    @classmethod
    def from_state(cls, state, gpu="auto") -> Clusterer:
        """From preprocess.npz, as `state()` wrote it."""
        content = Stage.from_state(state, "", gpu)
        groups = int(state["voice_groups"])
        if not groups:
            return cls(content)
        voice = Stage.from_state(state, "voice_", gpu)
        clusterer = cls(content, groups, int(state["voice_rounds"]), str(state["voice_target"]), voice)
        clusterer.voice_stats = {k: np.asarray(state[k]) for k in ("voice_means", "voice_scales", "voice_ltas_means")
                       if k in state}
        return clusterer
