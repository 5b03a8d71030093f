"""k-means initialisation: greedy k-means++ seeding (audioclust.cluster.kmeans.greedy_kmeanspp) + FAISS training."""
from __future__ import annotations

import numpy as np
import pytest

from audioclust.cluster import kmeans
from audioclust.errors import ConfigError


def _separated(n: int = 5000, k: int = 50, d: int = 16) -> np.ndarray:
    from sklearn.datasets import make_blobs

    return make_blobs(n, d, centers=k, cluster_std=1.0, random_state=0)[0].astype(np.float32)


def _inertia(x: np.ndarray, centroids: np.ndarray) -> float:
    return float((kmeans.assign(x, centroids, gpu=False)[1].astype(np.float64) ** 2).sum())


@pytest.fixture(scope="module")
def separated():
    from sklearn.cluster import KMeans

    x = _separated()
    ref = KMeans(50, init="k-means++", n_init=1, max_iter=20, tol=0.0, random_state=0).fit(x)
    return x, _inertia(x, ref.cluster_centers_.astype(np.float32))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_init_reaches_sklearn_inertia_on_separated_blobs(separated, seed):
    """Well-separated blobs: the initialisation decides (Lloyd cannot move a centroid between blobs). Greedy
    k-means++ lands within 1% of scikit-learn's k-means++ for every seed, FAISS random starts do not."""
    x, ref = separated
    greedy = kmeans.fit_kmeans(x, 50, niter=20, seed=seed, init="greedy", gpu=False)
    assert _inertia(x, greedy) <= 1.01 * ref
    random = kmeans.fit_kmeans(x, 50, niter=20, seed=seed, init="random", gpu=False)
    assert _inertia(x, random) > 1.05 * ref


def test_greedy_with_the_large_data_settings_and_refine(separated):
    """The README's 100k+ settings (sample 128/centroid, 16 iterations, 1 full Lloyd step) on a sampled set."""
    x, ref = separated
    cen = kmeans.fit_kmeans(x, 50, niter=16, init="greedy", max_points_per_centroid=40, refine=1, gpu=False)
    assert _inertia(x, cen) <= 1.01 * ref


def test_greedy_kmeanspp_is_deterministic_for_a_seed():
    x = _separated(2000, 20, 8)
    a, b = kmeans.greedy_kmeanspp(x, 20, seed=3), kmeans.greedy_kmeanspp(x, 20, seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (20, 8) and a.dtype == np.float32
    assert not np.array_equal(a, kmeans.greedy_kmeanspp(x, 20, seed=4))
    # the seeds are distinct rows of x
    rows = {r.tobytes() for r in x}
    assert all(r.tobytes() in rows for r in a) and len({r.tobytes() for r in a}) == 20
    # more candidates per step: a lower seeding potential here (and never a crash with 1)
    pot = [float(((x[:, None] - kmeans.greedy_kmeanspp(x, 20, 0, t)[None]) ** 2).sum(-1).min(1).sum())
           for t in (1, 24)]
    assert pot[1] < pot[0]


def test_fit_kmeans_greedy_is_deterministic_and_restarts_keep_the_best():
    x = _separated(3000, 30, 8)
    a = kmeans.fit_kmeans(x, 30, niter=10, seed=5, init="greedy", gpu=False, max_points_per_centroid=50)
    b = kmeans.fit_kmeans(x, 30, niter=10, seed=5, init="greedy", gpu=False, max_points_per_centroid=50)
    np.testing.assert_array_equal(a, b)
    one = kmeans.fit_kmeans(x, 30, niter=10, seed=5, init="greedy", gpu=False, nredo=1, n_local_trials=2)
    three = kmeans.fit_kmeans(x, 30, niter=10, seed=5, init="greedy", gpu=False, nredo=3, n_local_trials=2)
    # every row is in the sample here, so the objective FAISS ranks the restarts by is that of every row;
    # the first restart is the single run, so the best of three is no worse (up to the last update)
    assert _inertia(x, three) <= 1.001 * _inertia(x, one)


def test_greedy_kmeanspp_with_fewer_distinct_points_than_k():
    x = np.repeat(np.eye(4, 6, dtype=np.float32), 10, axis=0)  # 4 distinct rows, 40 points
    cen = kmeans.greedy_kmeanspp(x, 6, seed=0)
    assert cen.shape == (6, 6) and len({r.tobytes() for r in cen}) == 4  # every distinct row, then any rows
    with pytest.raises(ConfigError):
        kmeans.greedy_kmeanspp(x, 41)
    with pytest.raises(ConfigError, match="init_points_per_centroid"):
        kmeans.fit_kmeans(x, 4, init="greedy", init_points_per_centroid=0, gpu=False)


def _overlapping(n: int = 20000, k: int = 40, d: int = 32, seed: int = 0) -> np.ndarray:
    """k unit-variance blobs with centres uniform in [-1, 1]^d: heavy overlap, Lloyd converges slowly."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (k, d)).astype(np.float32)[rng.integers(0, k, n)]
    return x + rng.standard_normal(x.shape, dtype=np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_over_relaxed_iterations_get_further_in_as_many_iterations(seed):
    """kmeans.relax: on overlapping blobs (slow Lloyd) 8 iterations each moving 1.5x the step reach a lower
    inertia than 8 plain ones, from the same seeding (every row in the sample)."""
    x = _overlapping()
    plain, relaxed = (kmeans.fit_kmeans(x, 40, niter=8, seed=seed, init="greedy", gpu=False,
                                        max_points_per_centroid=1000, relax=r) for r in (1.0, 1.5))
    assert _inertia(x, relaxed) < 0.998 * _inertia(x, plain)


def test_relax_on_separated_blobs_and_its_checks(separated):
    """Separated blobs: relax keeps greedy's quality (within 1% of sklearn); relax=1 is plain FAISS training
    (the same centroids as without it); out-of-range values and FAISS's own inits are refused."""
    x, ref = separated
    cen = kmeans.fit_kmeans(x, 50, niter=10, init="greedy", max_points_per_centroid=40, refine=1, relax=1.5,
                            gpu=False)
    assert _inertia(x, cen) <= 1.01 * ref
    np.testing.assert_array_equal(kmeans.fit_kmeans(x, 50, niter=5, init="greedy", gpu=False, relax=1),
                                  kmeans.fit_kmeans(x, 50, niter=5, init="greedy", gpu=False))
    for bad in (0.5, 2.0, True, "1.5"):
        with pytest.raises(ConfigError, match="kmeans.relax"):
            kmeans.fit_kmeans(x, 50, init="greedy", relax=bad, gpu=False)
    with pytest.raises(ConfigError, match="needs kmeans.init=greedy"):
        kmeans.fit_kmeans(x, 50, init="kmeans++", relax=1.5, gpu=False)


@pytest.mark.gpu
def test_greedy_init_on_gpu_matches_cpu(separated):
    """Seeding on CPU, FAISS training and assignment on the GPU: the same quality as on CPU."""
    import faiss

    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("no GPU visible to FAISS")
    x, ref = separated
    cen = kmeans.fit_kmeans(x, 50, niter=20, init="greedy", gpu=True, refine=1)
    labels, dist = kmeans.assign(x, cen, gpu=True)
    assert float((dist.astype(np.float64) ** 2).sum()) <= 1.01 * ref
    np.testing.assert_array_equal(labels, kmeans.assign(x, cen, gpu=False)[0])
    relaxed = kmeans.fit_kmeans(x, 50, niter=10, init="greedy", gpu=True, refine=1, relax=1.5)  # the 100k settings
    assert _inertia(x, relaxed) <= 1.01 * ref
