"""Clustering methods: one object per method, fitted on the reduced features (pipeline.Stage) and kept as plain
arrays in preprocess.npz (no pickles).

    m = KMeans(niter=20, seed=0).fit(z, k)   # labels_ (n,), distances_ (n,), centroids_ (k, d), scikit-learn shaped
    labels, dists = m.assign(z_new)          # new rows: their cluster (-1: noise, for a method with noise), distance
    again = method_class(m.name).from_state(m.state(), gpu="auto")

`cluster.method=<name>` picks one (conf/cluster.yaml); the task builds it from its node conf/cluster/method/<name>.yaml
(Hydra `_target_`, the method's options; composed at the key <name>, e.g. kmeans.niter, hdbscan.min_cluster_size).
Adding a method: a module audioclust/cluster/<name>.py with a Method subclass whose `name` is <name> (it registers
itself), and its node conf/cluster/method/<name>.yaml, listed in conf/cluster.yaml's defaults.
"""
from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from audioclust import checks
from audioclust.cluster.kmeans import assign, check_batch, check_relax, fit_kmeans
from audioclust.errors import ConfigError

RUN_KEYS = ("k", "search", "gpu")   # in the kmeans node (kmeans.k, ...) but the run's: the number of clusters, FAISS


def over_defaults(defaults: dict, given: dict) -> dict:
    """A method's options: `given`, each dict-valued one (consensus's `kmeans`, its members' k-means) merged over the
    default dict of the same key, so a dict given in part (consensus.kmeans={nredo:2}) keeps the rest of its default
    (the run's kmeans.*). No key of `defaults` is added."""
    return {key: {**defaults[key], **v} if isinstance(v, dict) and isinstance(defaults.get(key), dict) else v
            for key, v in given.items()}

METHODS: dict[str, type[Method]] = {}   # name -> class: each registers itself when its module is imported
MODULES = {"hdbscan": "density"}        # a method's module (audioclust/cluster/) where it is not named after it
NOISE = -1


class Method(ABC):
    """A clustering method. The run's settings (seed, FAISS gpu, verbose) come as keywords beside the method's own
    options; `options` holds the latter (fresh() rebuilds from them).

    Class attributes: name (cluster.method), takes_k (False: it finds the number of clusters; kmeans.k and
    kmeans.search must then be null), noise (labels may be -1: in no cluster), nearest_centroid (its clusters are
    its centroids' cells, a fitted row's cluster is its nearest centroid: new rows are assigned so; otherwise
    pipeline.Stage assigns them by their nearest fitted rows, neighbours.py)."""

    name: ClassVar[str]
    takes_k: ClassVar[bool] = True
    noise: ClassVar[bool] = False
    nearest_centroid: ClassVar[bool] = False

    def __init__(self, seed: int = 0, gpu="auto", verbose: bool = False):
        self.seed, self.gpu, self.verbose = int(seed), gpu, bool(verbose)
        self.options: dict = {}
        self.labels_ = self.distances_ = self.centroids_ = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            METHODS[cls.name] = cls

    @abstractmethod
    def fit(self, x: np.ndarray, k: int | None) -> Method:
        """Fits on the rows of x (k: the number of clusters; None for a method that finds it); sets labels_ (int64),
        distances_ (float32: each row's distance to its cluster's centroid; noise: to the nearest) and centroids_
        (float32, (k, d)). Returns self."""

    def assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New rows: the nearest centroid (FAISS) and the distance to it."""
        return assign(x, self.centroids_, self.gpu)

    def admit(self, labels: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """New rows labelled by their nearest fitted rows (pipeline.Stage), with their distances to those clusters'
        centroids: the labels the method keeps (a method with noise may make some -1)."""
        return labels

    def state(self) -> dict[str, np.ndarray]:
        """What assign() needs, as plain arrays."""
        return {"centroids": self.centroids_}

    @classmethod
    def from_state(cls, state, gpu="auto") -> Method:
        method = cls(gpu=gpu)
        method.centroids_ = np.asarray(state["centroids"])
        return method

    def fresh(self, seed: int) -> Method:
        """An unfitted method with the same options and run settings, another seed."""
        return type(self)(**self.options, seed=seed, gpu=self.gpu, verbose=self.verbose)


class KMeans(Method):
    """FAISS k-means (kmeans.py fit_kmeans; options: its keywords, kmeans.* in conf/cluster/method/kmeans.yaml);
    a row's cluster is its nearest centroid."""

    name, nearest_centroid = "kmeans", True

    def __init__(self, seed: int = 0, gpu="auto", verbose: bool = False, **options):
        super().__init__(seed, gpu, verbose)
        unknown = set(options) - set(inspect.signature(fit_kmeans).parameters)
        if unknown:
            raise ConfigError(f"kmeans.{sorted(unknown)[0]} is not a k-means option (kmeans.py fit_kmeans)")
        if options.get("relax", 0) is None:   # null: plain Lloyd (fit_kmeans's default)
            del options["relax"]
        for key in ("niter", "nredo", "max_points_per_centroid"):
            if key in options:
                checks.number(f"kmeans.{key}", options[key], integer=True)
        if "refine" in options:
            checks.number("kmeans.refine", options["refine"], strict=False, integer=True)
        if "relax" in options:
            check_relax(options["relax"], options.get("init", "random"))
        if options.get("batch_points_per_centroid") is not None:
            check_batch(options["batch_points_per_centroid"], options.get("init", "random"))
        self.options = options

    def fit(self, x, k) -> KMeans:
        self.centroids_ = fit_kmeans(x, int(k), seed=self.seed, gpu=self.gpu, verbose=self.verbose, **self.options)
        self.labels_, self.distances_ = self.assign(x)
        return self


def method_class(name: str) -> type[Method]:
    """The class registered as `name` (importing its module audioclust/cluster/<name>.py when not yet imported)."""
    if name not in METHODS:
        try:
            importlib.import_module(f"{__package__}.{MODULES.get(name, name)}")
        except ModuleNotFoundError as e:
            if not e.name.startswith(__package__):
                raise
    if name not in METHODS:
        raise ConfigError(f"cluster.method={name}: no such clustering method (known: {', '.join(sorted(METHODS))})")
    return METHODS[name]
