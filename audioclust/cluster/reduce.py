"""Optional reduction of embeddings before clustering: PCA (storable, re-applied on assign) or UMAP (as in N2D; its
model is not stored, and is not used to place new rows either: they are placed by the nearest fitted rows,
neighbours.py, in the run that fitted it as in any later one)."""
from __future__ import annotations

import numpy as np

from audioclust import checks
from audioclust.cluster.kmeans import chunk_rows, flat_index
from audioclust.errors import ConfigError

METHODS = ("none", "pca", "umap")
SMALL = 4096   # umap-learn's own bound: below it, it computes every pairwise distance through a Python callable


def umap_fit(x: np.ndarray, dim: int, n_neighbors: int, seed: int, fit_sample: int | None = None,
             min_dist: float = 0.0, batch: int = 65536, gpu="auto") -> np.ndarray:
    """The UMAP of every row of x. Above `fit_sample` rows, UMAP is fitted on a seeded sample of that many rows and
    the rest are transformed in batches: time and memory grow with the sample, not with all the rows. Below SMALL
    rows, the neighbours UMAP starts from are found by exact FAISS search (knn), not by umap-learn's pairwise
    distances through a Python callable (17 s of 20 for 3,000 rows here); gpu: FAISS's, as kmeans.gpu."""
    import umap  # imported only when asked for: it compiles with numba on first use

    k, sampled = min(n_neighbors, len(x) - 1), bool(fit_sample) and len(x) > fit_sample
    pick = np.sort(np.random.default_rng(seed).choice(len(x), int(fit_sample), replace=False)) if sampled else slice(None)
    fit_rows = np.asarray(x[pick], np.float32)
    pre = knn(fit_rows, k, gpu) if len(fit_rows) < SMALL and not sampled else (None, None, None)   # sampled: transform
    model = umap.UMAP(n_components=dim, n_neighbors=k, min_dist=min_dist, metric="euclidean", random_state=seed,
                      precomputed_knn=pre)
    z = model.fit_transform(fit_rows).astype(np.float32)
    if not sampled:
        return z
    return np.concatenate([model.transform(np.asarray(x[s:s + batch], np.float32))
                           for s in range(0, max(len(x), 1), batch)]).astype(np.float32)


def knn(x: np.ndarray, k: int, gpu="auto") -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest rows (exact FAISS search; itself among them) and their Euclidean distances, computed
    again from the rows in float32 (FAISS's |a|^2 + |b|^2 - 2ab loses the small ones)."""
    index, step = flat_index(x.shape[1], gpu), chunk_rows(x.shape[1] * k, 4)
    index.add(x)
    near, dist = np.empty((len(x), k), np.int64), np.empty((len(x), k), np.float32)
    for s in range(0, len(x), step):
        near[s:s + step] = index.search(x[s:s + step], k)[1]
        dist[s:s + step] = np.linalg.norm(x[near[s:s + step]] - x[s:s + step, None], axis=2)
    order = np.argsort(dist, axis=1, kind="stable")   # nearest first by the exact distances (umap-learn assumes it)
    return np.take_along_axis(near, order, 1), np.take_along_axis(dist, order, 1)


class Reducer:
    def __init__(self, method: str = "none", dim: int = 10, n_neighbors: int = 30, seed: int = 0,
                 mean=None, components=None, fit_sample: int | None = 50000, gpu="auto"):
        """gpu: where FAISS finds UMAP's neighbours (the run's kmeans.gpu; not stored with the state)."""
        checks.choice("reduce.method", method, METHODS)
        checks.number("reduce.dim", dim, integer=True)
        checks.number("reduce.n_neighbors", n_neighbors, low=2, strict=False, integer=True)
        checks.number("reduce.fit_sample", fit_sample, low=2, integer=True, optional=True)
        self.method, self.dim, self.n_neighbors, self.seed = method, int(dim), int(n_neighbors), int(seed)
        self.mean, self.components, self.fit_sample, self.gpu = mean, components, fit_sample, gpu

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return x
        dim = min(self.dim, x.shape[1], len(x) - 1)
        if self.method == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(dim, random_state=self.seed).fit(x)
            self.mean, self.components = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
            return self.transform(x)
        dim = min(dim, len(x) - 2)   # UMAP's spectral start needs more rows than dimensions + 1
        if dim < 1:   # 3 rows or fewer: nothing to learn a map from
            self.method = "none"
            return x
        return umap_fit(x, dim, self.n_neighbors, self.seed, self.fit_sample, gpu=self.gpu)

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return x
        if self.method == "umap":   # pipeline.Stage places new rows by the fitted rows (neighbours.py)
            raise ConfigError("these clusters were fitted with reduce.method=umap by an older audioclust, which kept no "
                              "fitted rows to place new audio by (no UMAP model is stored: no pickles): fit them again")
        out, rows = np.empty((len(x), len(self.components)), np.float32), chunk_rows(x.shape[1], 4)
        for s in range(0, len(x), rows):   # a chunk of rows at a time: no centred copy of all of x
            out[s:s + rows] = (x[s:s + rows] - self.mean) @ self.components.T
        return out

    def state(self) -> dict:
        empty = np.zeros(0, np.float32)
        return {"reduce_method": np.array(self.method), "reduce_mean": self._or(self.mean, empty),
                "reduce_components": self._or(self.components, empty)}

    @staticmethod
    def _or(value, default):
        return default if value is None else value

    @classmethod
    def from_state(cls, state) -> Reducer:
        return cls(str(state["reduce_method"]), mean=state["reduce_mean"], components=state["reduce_components"])
