"""Optional reduction of embeddings before k-means: PCA (storable, re-applied on assign) or UMAP (as in N2D)."""
from __future__ import annotations

import numpy as np

from audioclust import checks
from audioclust.errors import ConfigError

METHODS = ("none", "pca", "umap")


class Reducer:
    def __init__(self, method: str = "none", dim: int = 10, n_neighbors: int = 30, seed: int = 0,
                 mean=None, components=None):
        checks.choice("reduce.method", method, METHODS)
        checks.number("reduce.dim", dim, integer=True)
        checks.number("reduce.n_neighbors", n_neighbors, low=2, strict=False, integer=True)
        self.method, self.dim, self.n_neighbors, self.seed = method, int(dim), int(n_neighbors), int(seed)
        self.mean, self.components = mean, components

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return x
        dim = min(self.dim, x.shape[1], len(x) - 1)
        if self.method == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(dim, random_state=self.seed).fit(x)
            self.mean, self.components = pca.mean_.astype(np.float32), pca.components_.astype(np.float32)
            return self.transform(x)
        import umap  # imported only when asked for: it compiles with numba on first use

        return umap.UMAP(n_components=dim, n_neighbors=min(self.n_neighbors, len(x) - 1), min_dist=0.0,
                         metric="euclidean", random_state=self.seed).fit_transform(x).astype(np.float32)

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.method == "none":
            return x
        if self.method == "umap":
            raise ConfigError("clusters fitted with reduce.method=umap cannot take new audio (a UMAP model is not "
                              "stored, to keep outputs free of pickles): fit with reduce.method=pca or none")
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def state(self) -> dict:
        empty = np.zeros(0, np.float32)
        return {"reduce_method": np.array(self.method), "reduce_mean": self._or(self.mean, empty),
                "reduce_components": self._or(self.components, empty)}

    @staticmethod
    def _or(value, default):
        return default if value is None else value

    @classmethod
    def from_state(cls, state) -> Reducer:
        if "reduce_method" not in state:
            return cls("none")
        return cls(str(state["reduce_method"]), mean=state["reduce_mean"], components=state["reduce_components"])
