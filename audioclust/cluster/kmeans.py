"""FAISS k-means (GPU when available, CPU otherwise) and nearest-centroid assignment in batches."""
from __future__ import annotations

import numpy as np

from audioclust.cluster.faiss_backend import openblas_coretype
from audioclust.errors import ConfigError

openblas_coretype()   # before this module's first `import faiss`: FAISS's own OpenBLAS on new Intel CPUs


def use_gpu(gpu="auto") -> bool:
    """Whether FAISS runs on the GPU (kmeans.gpu: auto | true | false). With a GPU visible, FAISS is first tried on
    it in a fresh process, once (faiss_backend.gpu_problem): if that fails, auto uses CPU FAISS (one printed line
    says why) and true stops with a ConfigError. Without a GPU nothing is tried."""
    import faiss

    from audioclust.cluster.faiss_backend import gpu_problem, gpu_works

    n = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpu == "auto":
        return n > 0 and gpu_works()
    if gpu and n == 0:
        raise ConfigError("kmeans.gpu=true but FAISS sees no GPU (install the `gpu` extra on a CUDA machine)")
    if gpu and gpu_problem():
        what, why = gpu_problem()
        raise ConfigError(f"kmeans.gpu=true but {what} ({why}): use kmeans.gpu=auto (CPU FAISS) or a FAISS build "
                          "for this GPU (docs/scale.md)")
    return bool(gpu)


INITS = {"random": "ClusteringInitMethod_RANDOM", "kmeans++": "ClusteringInitMethod_KMEANS_PLUS_PLUS",
         "afkmc2": "ClusteringInitMethod_AFK_MC2", "greedy": None}  # greedy: greedy_kmeanspp here, then FAISS


def training_sample(x, k: int, max_points_per_centroid: int, seed: int = 0) -> np.ndarray:
    """At most k * max_points_per_centroid rows of x (seeded, in row order), as float32 in RAM.

    x may be memory-mapped: only the sampled rows are read, so k-means never needs all embeddings in RAM."""
    n, cap = len(x), int(k) * int(max_points_per_centroid)
    if n <= cap:
        return np.ascontiguousarray(x, dtype=np.float32)
    idx = np.sort(np.random.default_rng(seed).choice(n, cap, replace=False))
    return np.ascontiguousarray(x[idx], dtype=np.float32)


def seeding_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What greedy_kmeanspp computes from its rows alone: x as contiguous float32, its squared norms and its
    contiguous transpose (d, n) (the products run faster than with the x.T view); restarts that seed on
    the same rows compute it once."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x, np.einsum("ij,ij->i", x, x), np.ascontiguousarray(x.T)


def greedy_kmeanspp(x: np.ndarray, k: int, seed: int = 0, n_local_trials: int | None = None,
                    prepared: tuple | None = None) -> np.ndarray:
    """k rows of x as initial centroids (k, d) by greedy k-means++, scikit-learn's seeding: each step draws
    n_local_trials candidates (default 2 + ln k) with probability proportional to the squared distance to the
    nearest centroid so far and keeps the one that lowers the sum of those distances most. Deterministic for a
    seed; numpy float32 matrix products against a contiguous transpose, without per-step input checks (faster
    than sklearn.cluster.kmeans_plusplus: bench/kmeans.py), float64 cumulative sums.
    prepared: seeding_rows(x), when several seedings share x."""
    x, sq, xt = prepared or seeding_rows(x)
    n = len(x)
    if not 1 <= k <= n:
        raise ConfigError(f"kmeans.k={k} must be between 1 and the number of points ({n})")
    trials = int(n_local_trials) if n_local_trials else 2 + int(np.log(k))
    rng = np.random.default_rng(seed)

    def dist2(rows: np.ndarray, closest=None) -> np.ndarray:
        """(len(rows), n) squared distances of x[rows] to every row, at most closest, in place (rounding may
        leave values slightly below 0: the kept row is clamped)."""
        d = x[rows] @ xt
        d *= -2
        d += sq[None, :]
        d += sq[rows][:, None]
        return d if closest is None else np.minimum(d, closest[None, :], out=d)

    chosen = np.empty(k, np.int64)
    chosen[0] = rng.integers(n)
    closest = np.maximum(dist2(chosen[:1])[0], 0)
    for c in range(1, k):
        cum = np.cumsum(closest, dtype=np.float64)
        if cum[-1] <= 0:  # every point already sits on a centroid (duplicates): take unused rows
            chosen[c:] = rng.choice(np.setdiff1d(np.arange(n), chosen[:c]), k - c, replace=False)
            break
        cand = np.minimum(np.searchsorted(cum, rng.uniform(size=trials) * cum[-1]), n - 1)
        d = dist2(cand, closest)
        best = int(np.argmin(d.sum(1)))  # float32 (pairwise) sums: ample to rank the candidates
        chosen[c], closest = cand[best], np.maximum(d[best], 0)
    return x[chosen].copy()


def check_relax(relax, init: str) -> None:
    """kmeans.relax: a number in [1, 2), above 1 only with init=greedy."""
    if isinstance(relax, bool) or not isinstance(relax, (int, float)) or not 1 <= relax < 2:
        raise ConfigError(f"kmeans.relax must be a number in [1, 2) (1: plain Lloyd), got {relax!r}")
    if relax != 1 and init != "greedy":
        raise ConfigError(f"kmeans.relax={relax} needs kmeans.init=greedy (FAISS's own inits train in one call)")


def check_batch(batch, init: str) -> None:
    """kmeans.batch_points_per_centroid: null (every iteration on the whole sample) or an integer >= 1, only with
    init=greedy."""
    if batch is None:
        return
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ConfigError(f"kmeans.batch_points_per_centroid must be null or an integer >= 1, got {batch!r}")
    if init != "greedy":
        raise ConfigError(f"kmeans.batch_points_per_centroid={batch} needs kmeans.init=greedy (FAISS's own inits "
                          "train in one call)")


def fit_kmeans(x: np.ndarray, k: int, niter: int = 50, nredo: int = 1, seed: int = 0,
               max_points_per_centroid: int = 256, gpu="auto", verbose: bool = False,
               init: str = "random", refine: int = 0, init_points_per_centroid: int = 16,
               n_local_trials: int | None = 16, relax: float = 1.0,
               batch_points_per_centroid: int | None = None) -> np.ndarray:
    """Centroids (k, d), trained on at most k * max_points_per_centroid rows of x (a seeded sample; x may be
    memory-mapped). init: random | kmeans++ | afkmc2 (FAISS ClusteringInitMethod) | greedy: greedy_kmeanspp on
    max(k * init_points_per_centroid, 4096) rows of that sample (on CPU), with n_local_trials candidates per step
    (None: 2 + ln k, scikit-learn's), then FAISS (GPU or CPU) trains from those centroids; 16 rows and 16
    trials measured best for their time in bench/kmeans.py (24 trials: lower inertia on separated blobs, slower).
    nredo: restarts (for greedy each from its own seeding), the lowest objective on the sample kept. gpu: auto | true | false; on GPU FAISS uses every
    visible GPU. verbose: FAISS prints each iteration (its progress).
    relax (init=greedy): over-relaxed iterations on the sample, each centroid moved `relax` times the step to the
    mean of its points (1: plain Lloyd; the last iteration always plain): further per iteration on slowly
    converging, overlapping data (BENCHMARKS.md "k-means"). Same FAISS route (GPU or CPU), one FAISS iteration per
    call on one index.
    batch_points_per_centroid (init=greedy; None: off): each sample iteration on its own seeded random batch of
    k * this many rows of the sample (the same batches for every restart, so their last objectives compare), not the
    whole sample: a batch iteration costs batch/sample of one, and fresh rows every iteration keep the centroids
    from fitting one sample's noise (where fewer rows in a fixed sample would); on overlapping data this gets
    further per second than fewer iterations on the whole sample (BENCHMARKS.md "k-means").
    refine: Lloyd iterations over every row afterwards (streamed), which recover most of what the sample lost."""
    import faiss

    n, d = x.shape
    if k < 1:
        raise ConfigError(f"kmeans.k must be >= 1, got {k}")
    if k > n:
        raise ConfigError(f"kmeans.k={k} is larger than the number of clips ({n}): use a smaller k")
    if refine < 0:
        raise ConfigError(f"kmeans.refine must be >= 0, got {refine}")
    if init not in INITS or (INITS[init] and not hasattr(faiss, INITS[init])):
        raise ConfigError(f"unknown kmeans.init {init!r} (or too old a FAISS): use one of {list(INITS)}")
    if init == "greedy" and int(init_points_per_centroid) < 1:
        raise ConfigError(f"kmeans.init_points_per_centroid must be >= 1, got {init_points_per_centroid}")
    check_relax(relax, init)
    check_batch(batch_points_per_centroid, init)
    sample = training_sample(x, k, max_points_per_centroid, seed)
    if init == "greedy":
        best, init_rows = None, max(int(k) * int(init_points_per_centroid), 4096)
        batch = int(k) * int(batch_points_per_centroid) if batch_points_per_centroid else len(sample)
        batches = (batch, int(seed)) if batch < len(sample) else None
        shared = seeding_rows(sample) if len(sample) <= init_rows and nredo > 1 else None   # every restart seeds on all of it
        for r in range(max(int(nredo), 1)):
            rseed = int(seed) + 1000003 * r
            seeds = sample if shared else training_sample(sample, 1, init_rows, rseed)
            start = greedy_kmeanspp(seeds, int(k), rseed, n_local_trials, shared)
            obj, cen = _train_from(sample, start, int(niter), float(relax), rseed, bool(verbose),
                                   int(max_points_per_centroid), use_gpu(gpu), batches)
            if best is None or obj < best[0]:
                best = (obj, cen)
        centroids = best[1]
    else:
        km = _kmeans(d, int(k), use_gpu(gpu), niter=int(niter), nredo=int(nredo), seed=int(seed), verbose=bool(verbose),
                     max_points_per_centroid=int(max_points_per_centroid), init_method=getattr(faiss, INITS[init]))
        km.train(sample)
        centroids = np.asarray(km.centroids, dtype=np.float32)
    for _ in range(int(refine)):
        centroids = lloyd_step(x, centroids, gpu)
    return centroids


def _train_from(sample, start, niter: int, relax: float, seed: int, verbose: bool, mppc: int, gpu: bool,
                batches: tuple[int, int] | None = None):
    """(objective, centroids) of FAISS k-means on the sample from `start`; with relax > 1 or batches one FAISS
    iteration per call on the same index (GPU or CPU), each but the last step scaled by relax.
    batches: (rows, seed): each iteration on its own random batch of that many rows of the sample (rows in order)."""
    one_call = relax == 1 and batches is None
    km = _kmeans(sample.shape[1], len(start), gpu, niter=niter if one_call else 1, nredo=1, seed=seed,
                 verbose=verbose, max_points_per_centroid=mppc)
    if one_call:
        obj = km.train(sample, init_centroids=start)
        return obj, np.asarray(km.centroids, dtype=np.float32)
    rng = np.random.default_rng(batches[1]) if batches else None
    c = np.asarray(start, dtype=np.float32)
    n = max(niter, 1)
    for it in range(n):
        rows = sample if rng is None else sample[np.sort(rng.choice(len(sample), batches[0], replace=False))]
        obj = km.train(rows, init_centroids=c)
        m = np.asarray(km.centroids, dtype=np.float32)
        c = m if it == n - 1 else c + np.float32(relax) * (m - c)
    return obj, c


def lloyd_step(x, centroids: np.ndarray, gpu="auto", batch: int = 65536) -> np.ndarray:
    """One Lloyd iteration over every row of x, streamed in batches: assign, then move each centroid to the mean
    of its rows (a centroid with no rows stays where it is)."""
    k = len(centroids)
    sums, counts = np.zeros(centroids.shape, np.float64), np.zeros(k, np.int64)
    index = _index(centroids, gpu)
    for s in range(0, len(x), batch):
        rows = np.ascontiguousarray(x[s:s + batch], dtype=np.float32)
        labels = index.search(rows, 1)[1][:, 0]
        sums += label_sums(rows, labels, k)
        counts += np.bincount(labels, minlength=k)
    out, used = centroids.copy(), counts > 0
    out[used] = (sums[used] / counts[used, None]).astype(np.float32)
    return out


def label_sums(rows: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k, d): the sum of the rows with each label, as one sparse one-hot product (in the rows' dtype, no copy)."""
    import scipy.sparse as sp

    onehot = sp.csr_matrix((np.ones(len(rows), np.float32), (labels, np.arange(len(rows)))), shape=(k, len(rows)))
    return onehot @ rows


_GPU_RESOURCES: dict = {}   # device -> faiss.StandardGpuResources of this process


def gpu_resources(device: int):
    """FAISS's resources of one GPU (cuBLAS handle, streams, scratch memory), made on its first use in the process
    and shared by every index on that GPU: assign, lloyd_step and each k-means training."""
    import faiss

    if device not in _GPU_RESOURCES:
        _GPU_RESOURCES[device] = faiss.StandardGpuResources()
    return _GPU_RESOURCES[device]


def flat_index(d: int, gpu="auto"):
    """An empty exact L2 index of d dims: on CPU, or replicated over every visible GPU with their shared resources."""
    import faiss

    index = faiss.IndexFlatL2(d)
    if not use_gpu(gpu):
        return index
    devices = list(range(faiss.get_num_gpus()))
    return faiss.index_cpu_to_gpu_multiple_py([gpu_resources(i) for i in devices], index, None, devices)


def _kmeans(d: int, k: int, gpu: bool, **params):
    """faiss.Kmeans training on flat_index (FAISS's gpu=True would make new GPU resources for each object).
    min_points_per_centroid=1: FAISS only uses it to print a "provide at least k * 39 points" warning on stderr
    (small folders are normal here, and the user's screen stays clean)."""
    import faiss

    km = faiss.Kmeans(d, k, min_points_per_centroid=1, **params)
    km.index = flat_index(d, gpu)
    return km


def _index(centroids: np.ndarray, gpu="auto"):
    index = flat_index(centroids.shape[1], gpu)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    return index


def assign(x: np.ndarray, centroids: np.ndarray, gpu="auto", batch: int = 65536, transform=None):
    """Nearest centroid of each row and its Euclidean distance, streamed in batches (x may be memory-mapped;
    transform, e.g. a fitted Preprocess, is applied per batch). On GPU the index spans every visible GPU."""
    if x.shape[1] != centroids.shape[1]:
        raise ConfigError(f"embeddings have {x.shape[1]} dims but the centroids {centroids.shape[1]}: "
                          "they come from different models")
    index = _index(centroids, gpu)
    labels, dists = np.empty(len(x), np.int64), np.empty(len(x), np.float32)
    for s in range(0, len(x), batch):
        rows = x[s:s + batch] if transform is None else transform(x[s:s + batch])
        d2, i = index.search(np.ascontiguousarray(rows, dtype=np.float32), 1)
        labels[s:s + batch], dists[s:s + batch] = i[:, 0], np.sqrt(np.maximum(d2[:, 0], 0))
    return labels, dists


def chunk_rows(d: int, itemsize: int = 8, budget: int = 32 << 20) -> int:
    """Rows of d values of `itemsize` bytes that fit in `budget` bytes (at least 1): a chunk of a large matrix."""
    return max(1, budget // max(int(d) * itemsize, 1))


def mean_std(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and (population) standard deviation of x in float64, a chunk of rows at a time (x may be
    memory-mapped: no copy of it), each chunk's mean and sum of squared deviations merged as Chan et al. do."""
    n, d = x.shape
    mean, m2, seen = np.zeros(d), np.zeros(d), 0
    for s in range(0, n, chunk_rows(d)):
        c = np.array(x[s:s + chunk_rows(d)], np.float64)
        cmean = c.mean(0)
        c -= cmean
        m, delta = len(c), cmean - mean
        mean += delta * (m / (seen + m))
        m2 += np.einsum("ij,ij->j", c, c) + delta ** 2 * (seen * m / (seen + m))
        seen += m
    return mean, np.sqrt(m2 / max(n, 1))


class Preprocess:
    """Embedding transform fitted on the clustered set and re-applied when assigning new audio.

    standard: per-dimension z-score; l2: z-score, then unit length (k-means on cosine geometry); none."""

    KINDS = ("standard", "l2", "none")

    def __init__(self, kind: str = "standard", mean=None, scale=None):
        if kind not in self.KINDS:
            raise ConfigError(f"unknown preprocess={kind!r}: use one of {', '.join(self.KINDS)}")
        self.kind, self.mean, self.scale = kind, mean, scale

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Preprocess:
        """weights: per-dimension factors after the z-score (encoder=mix: each member weighs the same; 0: the
        dimension is left out, set to 0), kept in the scale, so assign re-applies them. x may be memory-mapped: read a
        chunk of rows at a time (mean_std)."""
        scaled = self.kind in ("standard", "l2")
        if scaled:   # float64 sums, kept as float32 (float64 for float64 x), as x.mean(0) and x.std(0) were
            mean, std = mean_std(x)
            dtype = np.result_type(x.dtype, np.float32)
            self.mean, self.scale = mean.astype(dtype), (std + 1e-6).astype(dtype)
        else:
            self.mean, self.scale = np.zeros(x.shape[1], np.float32), np.ones(x.shape[1], np.float32)
        if weights is not None:   # a weight of 0: an infinite scale, so the dimension becomes 0
            w = np.asarray(weights, np.float32)
            self.scale = np.divide(self.scale, w, out=np.full_like(self.scale, np.inf), where=w > 0)
        return self

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """x transformed, float32, a chunk of rows at a time into `out`: a new array, or the caller's own float32
        array (out=x: in place, no second copy). x may be memory-mapped."""
        out = np.empty(x.shape, np.float32) if out is None else out
        rows = chunk_rows(x.shape[1], 4)
        for s in range(0, len(x), rows):
            y = out[s:s + rows]
            np.subtract(x[s:s + rows], self.mean, out=y)
            y /= self.scale
            if self.kind == "l2":
                y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return out

    def state(self) -> dict:
        return {"kind": np.array(self.kind), "mean": self.mean, "scale": self.scale}

    @classmethod
    def from_state(cls, state) -> Preprocess:
        return cls(str(state["kind"]), state["mean"], state["scale"])
