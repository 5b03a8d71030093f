"""The nearest rows of an embedding set to a query, by FAISS: exact (IndexFlat) up to EXACT_UP_TO rows, above an
inverted file over compact codes whose best candidates are re-ranked on the full vectors (PCA to 256 dims, IVF,
8-bit scalar codes, IndexRefineFlat), its probes calibrated at build time against exact search on rows of the set.

Space: by default the clusters' (preprocess=l2 of audioclust/cluster/kmeans.py: each dimension z-scored with the
set's mean and spread, then each row scaled to unit length), so "more like this" agrees with the clusters; distances
are Euclidean in that space (0 to 2; cosine similarity = 1 - d^2 / 2). The fitted mean and spread are saved with
the index and applied to every query. `space`: l2 (that), cosine (unit length only), standard (z-score only),
none (raw vectors); precision@10 of each on labelled sets: BENCHMARKS.md "Search by example".

Why (bench/search.py, BENCHMARKS.md "Search by example", 2 shared cores): on clustered rows with the decaying spectrum
of real embeddings, IVF needs 3-20% of its lists probed for recall@10 0.98 (64 of 2048 at 1M rows). The codes are 24
times fewer bytes to scan than the full float32 rows, and re-ranking 4 x n candidates on those rows gives back the order
the codes blur. At 1M rows of 1,536 dims: recall@10 0.987 against exact, 18 ms a query, built in 17 min (k-means and
PCA on a sample, one pass to add), 6.1 GB. HNSW (M 32) answered faster at 100k rows (0.5 ms, recall 0.96) but took
longer to build there (209 s against 133-158 s), and its build grows faster than linearly with the rows.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from audioclust import checks, io
from audioclust.cluster.faiss_backend import load_faiss
from audioclust.cluster.kmeans import Preprocess, chunk_rows, gpu_resources, training_sample, use_gpu
from audioclust.errors import ConfigError

SPACES = ("l2", "cosine", "standard", "none")
EXACT_UP_TO = 100_000        # rows; above: IVF-Flat
RECALL = 0.98                # calibration target of nprobe on the set's own rows (new queries: >= 0.95 measured)
CALIBRATION_QUERIES = 256
PCA_DIMS = 256               # the codes' dimensions (fewer input dimensions: no PCA)
REFINE = 4                   # candidates re-ranked on the full vectors: REFINE x n
PROBES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
FILES = ("index.faiss", "index.npz")


class Neighbours(NamedTuple):
    """The n nearest rows of each of m queries, nearest first: ids (m, n) int64, rows of the indexed set (-1 where
    an approximate search found fewer than n), distances (m, n) float32 (Euclidean in the index's space; inf at -1)."""
    ids: np.ndarray
    distances: np.ndarray


def default_nlist(n: int) -> int:
    """IVF lists for n rows: the power of two nearest 2 * sqrt(n) (1M rows: 2048 lists of about 500 rows)."""
    return int(2 ** round(np.log2(2 * np.sqrt(max(n, 1)))))


class Index:
    """An (n, d) embedding set searchable by example. Index.build(x) chooses exact or IVF by the number of rows;
    search(queries, n) -> Neighbours; save(folder) / Index.load(folder): index.faiss (FAISS's own format) and
    index.npz (the space's mean and scale, nprobe; plain arrays, no pickles)."""

    def __init__(self, index: Any, pre: Preprocess, space: str, recall: float | None = None):
        self.index, self.pre, self.space, self.recall = index, pre, space, recall
        self._gpu: Any = None

    def _ivf(self) -> Any:
        """The inverted file inside an approximate index; None for an exact one."""
        return None if isinstance(self.index, load_faiss().IndexFlat) else load_faiss().extract_index_ivf(self.index)

    @property
    def kind(self) -> str:
        if self._ivf() is None:
            return "exact"
        faiss = load_faiss()
        base = faiss.downcast_index(faiss.downcast_index(self.index).base_index)
        pca = f"PCA{faiss.downcast_VectorTransform(base.chain.at(0)).d_out}," if hasattr(base, "chain") else ""
        return f"{pca}IVF{self.nlist},SQ8,Refine"

    @property
    def nlist(self) -> int | None:
        ivf = self._ivf()
        return None if ivf is None else int(ivf.nlist)

    @property
    def nprobe(self) -> int | None:
        ivf = self._ivf()
        return None if ivf is None else int(ivf.nprobe)

    @property
    def d(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def __repr__(self) -> str:
        probes = f", nprobe={self.nprobe}, recall@10 {self.recall:.3f} on its own rows" if self.nlist else ""
        return f"Index({len(self)} rows x {self.d}, {self.kind}, space={self.space}{probes})"

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Rows in the index's space (float32, a new array)."""
        y = self.pre(x)
        if self.space == "cosine":
            y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return y

    @classmethod
    def build(cls, x: Any, space: str = "l2", exact_up_to: int = EXACT_UP_TO, nlist: int | None = None,
              recall: float = RECALL, seed: int = 0) -> Index:
        """The index of the rows of x, (n, d): an array, memory-mapped or anything sliced by rows (read a chunk at
        a time, so only the index holds the set). Exact up to exact_up_to rows; above, PCA + IVF with nlist lists
        (default_nlist) + SQ8 codes, trained on a seeded sample, re-ranked on the full vectors; nprobe the fewest
        probes whose recall@10 on CALIBRATION_QUERIES of its own rows reaches `recall`."""
        faiss = load_faiss()
        checks.choice("space", space, SPACES)
        if len(x.shape) != 2 or not x.shape[0]:
            raise ConfigError(f"expected rows to search, an (n, d) array, got shape {tuple(x.shape)}")
        n, d = x.shape
        self = cls(None, Preprocess({"cosine": "none"}.get(space, space)).fit(x), space)
        if n <= exact_up_to:
            self.index = faiss.IndexFlatL2(d)
            self._add(x)
            return self
        nlist = int(nlist or default_nlist(n))
        if not 1 <= nlist <= n:
            raise ConfigError(f"nlist={nlist} must be between 1 and the number of rows ({n})")
        pca = f"PCA{PCA_DIMS}," if d > PCA_DIMS else ""
        self.index = faiss.IndexRefineFlat(faiss.index_factory(d, f"{pca}IVF{nlist},SQ8"))
        self.index.k_factor = REFINE
        self._ivf().cp.min_points_per_centroid = 1   # FAISS only warns on stderr below 39 rows a list
        self.index.train(self.transform(training_sample(x, nlist, 64, seed)))
        rows = np.sort(np.random.default_rng(seed).choice(n, min(CALIBRATION_QUERIES, n), replace=False))
        queries = self.transform(np.asarray(x[rows]))
        truth = self._add(x, queries, 11)
        self.recall = self._calibrate(queries, rows, truth, recall)
        return self

    def _add(self, x: Any, queries: np.ndarray | None = None, k: int = 0) -> np.ndarray | None:
        """Every row of x into the index, a chunk at a time; with queries, their exact k nearest among those rows
        (ids (q, k)), found on the way."""
        faiss = load_faiss()
        best_d = best_i = None
        step = chunk_rows(x.shape[1], 4, 256 << 20)
        for s in range(0, len(x), step):
            y = self.transform(np.asarray(x[s:s + step]))
            self.index.add(y)
            if queries is not None:
                dist, ids = faiss.knn(queries, y, min(k, len(y)))
                ids = ids + s
                if best_d is not None:
                    dist, ids = np.hstack([best_d, dist]), np.hstack([best_i, ids])
                order = np.argsort(dist, axis=1, kind="stable")[:, :k]
                best_d, best_i = np.take_along_axis(dist, order, 1), np.take_along_axis(ids, order, 1)
        return best_i

    def _calibrate(self, queries: np.ndarray, rows: np.ndarray, truth: np.ndarray, target: float) -> float:
        """Sets nprobe to the first of PROBES (up to nlist) whose recall@10 reaches target, each query's own row
        left out; returns that recall."""
        ivf = self._ivf()
        for nprobe in [p for p in PROBES if p < ivf.nlist] + [ivf.nlist]:
            ivf.nprobe = nprobe
            got = recall_at(self.index.search(queries, truth.shape[1])[1], truth, rows, 10)
            if got >= target:
                break
        return got

    def search(self, queries: np.ndarray, n: int = 10, gpu: Any = "auto") -> Neighbours:
        """The n nearest rows of each query ((m, d) or (d,) raw vectors, as given to build: the index applies its
        space), nearest first."""
        q = np.asarray(queries, np.float32)
        q = q[None] if q.ndim == 1 else q
        if q.ndim != 2 or q.shape[1] != self.d:
            raise ConfigError(f"queries must be (m, {self.d}) vectors like the indexed rows, got shape {np.shape(queries)}")
        checks.number("n", n, integer=True)
        with _threads(1 if self._ivf() is not None and len(q) < 8 else 0):
            d2, ids = self._searcher(gpu).search(self.transform(q), int(min(n, len(self))))
        return Neighbours(ids.astype(np.int64), np.where(ids < 0, np.inf, np.sqrt(np.maximum(d2, 0))).astype(np.float32))

    def _searcher(self, gpu: Any) -> Any:
        """The index, or, exact, its copy on the GPU (made once) when FAISS runs there (an approximate one stays on
        the CPU: a few ms a query)."""
        if self._ivf() is not None or not use_gpu(gpu):
            return self.index
        if self._gpu is None:
            faiss = load_faiss()
            self._gpu = faiss.index_cpu_to_gpu(gpu_resources(0), 0, self.index)
        return self._gpu

    def save(self, folder: Any) -> Path:
        """index.faiss and index.npz under folder (each written atomically)."""
        faiss = load_faiss()
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        with io.atomic_path(out / FILES[0]) as tmp:
            faiss.write_index(self.index, str(tmp))
        state = {**self.pre.state(), "space": np.array(self.space), "recall": np.array(np.nan if self.recall is None else self.recall)}
        with io.atomic_path(out / FILES[1], ".npz") as tmp:
            np.savez(tmp, **state)
        return out

    @classmethod
    def load(cls, folder: Any, mmap: bool = False) -> Index:
        """An index saved by save(); mmap: FAISS's memory-mapped read (IO_FLAG_MMAP: an approximate index's inverted
        lists stay on disk)."""
        faiss = load_faiss()
        path = Path(folder)
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise ConfigError(f"{path}: no search index there ({missing[0]} missing)")
        index = faiss.read_index(str(path / FILES[0]), faiss.IO_FLAG_MMAP if mmap else 0)
        with np.load(path / FILES[1], allow_pickle=False) as s:
            state = {k: s[k] for k in s.files}
        recall = float(state["recall"])
        return cls(index, Preprocess.from_state(state), str(state["space"]), None if np.isnan(recall) else recall)


def recall_at(found: np.ndarray, truth: np.ndarray, rows: np.ndarray | None = None, k: int = 10) -> float:
    """Mean share of each query's true k nearest (ids, nearest first) among its k found; rows: each query's own
    row in the set, left out of both (a row of the set asking for its neighbours)."""
    hits = 0
    for i in range(len(found)):
        f, t = found[i], truth[i]
        if rows is not None:
            f, t = f[f != rows[i]], t[t != rows[i]]
        hits += len(set(f[:k].tolist()) & set(t[:k].tolist()))
    return hits / (k * len(found))


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """FAISS on n OpenMP threads for the block (0: as it is). A few queries of an approximate index run on one
    thread anyway (FAISS splits the queries among threads), and waking the others costs more than the search on a
    busy machine (bench/search.py: 26 ms against 80 ms a query on 2 shared cores)."""
    faiss = load_faiss()
    before = faiss.omp_get_max_threads()
    if n:
        faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
