"""Optional reduction of embeddings before clustering: PCA (storable, re-applied on assign) or UMAP (as in N2D; its
model places new rows in the run that fitted it, and is not stored: later, new rows are placed by the nearest
fitted rows, neighbours.py)."""
from __future__ import annotations

import numpy as np

from audioclust import checks
from audioclust.cluster.kmeans import chunk_rows
from audioclust.errors import ConfigError

METHODS = ("none", "pca", "umap")


def umap_fit(x: np.ndarray, dim: int, n_neighbors: int, seed: int, fit_sample: int | None = None,
             min_dist: float = 0.0, batch: int = 65536):
    """A fitted UMAP model and the UMAP of every row of x. Above `fit_sample` rows, UMAP is fitted on a seeded
    sample of that many rows and the rest are transformed in batches: time and memory grow with the sample, not
    with all the rows."""
    import umap  # imported only when asked for: it compiles with numba on first use

    model = umap.UMAP(n_components=dim, n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist,
                      metric="euclidean", random_state=seed)
    if not fit_sample or len(x) <= fit_sample:
        return model, model.fit_transform(np.asarray(x, np.float32)).astype(np.float32)
    pick = np.sort(np.random.default_rng(seed).choice(len(x), int(fit_sample), replace=False))
    model.fit(np.asarray(x[pick], np.float32))
    return model, umap_transform(model, x, batch)


def umap_transform(model, x: np.ndarray, batch: int = 65536) -> np.ndarray:
    """New rows placed in a fitted UMAP, `batch` rows at a time."""
    return np.concatenate([model.transform(np.asarray(x[s:s + batch], np.float32))
                           for s in range(0, max(len(x), 1), batch)]).astype(np.float32)


def umap_embed(x: np.ndarray, dim: int, n_neighbors: int, seed: int, fit_sample: int | None = None,
               min_dist: float = 0.0) -> np.ndarray:
    return umap_fit(x, dim, n_neighbors, seed, fit_sample, min_dist)[1]


class Reducer:
    def __init__(self, method: str = "none", dim: int = 10, n_neighbors: int = 30, seed: int = 0,
                 mean=None, components=None, fit_sample: int | None = 50000):
        checks.choice("reduce.method", method, METHODS)
        checks.number("reduce.dim", dim, integer=True)
        checks.number("reduce.n_neighbors", n_neighbors, low=2, strict=False, integer=True)
        checks.number("reduce.fit_sample", fit_sample, low=2, integer=True, optional=True)
        self.method, self.dim, self.n_neighbors, self.seed = method, int(dim), int(n_neighbors), int(seed)
        self.mean, self.components, self.fit_sample = mean, components, fit_sample
        self.umap = None   # the fitted UMAP model: in memory only (outputs stay free of pickles)

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
        self.umap, z = umap_fit(x, dim, self.n_neighbors, self.seed, self.fit_sample)
        return z

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return x
        if self.method == "umap" and self.umap is not None:   # the same run (e.g. long files' windows)
            return umap_transform(self.umap, x)
        if self.method == "umap":   # a later run: pipeline.Stage places new rows by the fitted rows (neighbours.py)
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
