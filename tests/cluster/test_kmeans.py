"""k-means initialisation: greedy k-means++ seeding (audioclust.cluster.kmeans.greedy_kmeanspp) + FAISS training."""
from __future__ import annotations

import os

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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batches_reach_sklearn_inertia_on_overlapping_blobs(seed):
    """The 100k+ settings of docs/scale.md (init=greedy nredo=1 niter=20 relax=1.3 batch_points_per_centroid=64
    refine=1), scaled down: make_blobs with cluster_std=12 (heavy overlap, slow Lloyd), k below the blobs. Within 1%
    of scikit-learn's k-means++ with 20 iterations, and lower than the former settings (10 iterations on one fixed
    sample of 128 per centroid) and than whole-sample iterations of the same cost (5 of 256 per centroid)."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    x = make_blobs(20000, 32, centers=60, cluster_std=12.0, random_state=seed)[0].astype(np.float32)
    ref = _inertia(x, KMeans(50, n_init=1, max_iter=20, tol=0.0, random_state=seed).fit(x).cluster_centers_)
    common = dict(seed=seed, init="greedy", nredo=1, refine=1, gpu=False)
    batches = _inertia(x, kmeans.fit_kmeans(x, 50, niter=20, relax=1.3, batch_points_per_centroid=64, **common))
    former = _inertia(x, kmeans.fit_kmeans(x, 50, niter=10, relax=1.5, max_points_per_centroid=128, **common))
    same_cost = _inertia(x, kmeans.fit_kmeans(x, 50, niter=5, relax=1.3, **common))
    assert batches <= 1.01 * ref
    assert batches < former and batches < same_cost


def test_batches_are_seeded_and_checked(separated):
    """kmeans.batch_points_per_centroid: the same centroids for a seed, others for another; a batch as large as the
    sample is the whole sample (the centroids without batches); restarts see the same batches, so nredo keeps the
    lowest objective; only with init=greedy, an integer >= 1 or null."""
    x, _ = separated
    fit = dict(niter=8, init="greedy", gpu=False, max_points_per_centroid=60, relax=1.3)
    a, b = (kmeans.fit_kmeans(x, 50, seed=1, batch_points_per_centroid=20, **fit) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, kmeans.fit_kmeans(x, 50, seed=2, batch_points_per_centroid=20, **fit))
    assert not np.array_equal(a, kmeans.fit_kmeans(x, 50, seed=1, **fit))   # batches of 20 rows, not all 60
    np.testing.assert_array_equal(kmeans.fit_kmeans(x, 50, seed=1, batch_points_per_centroid=60, **fit),
                                  kmeans.fit_kmeans(x, 50, seed=1, **fit))
    np.testing.assert_array_equal(kmeans.fit_kmeans(x, 50, seed=1, batch_points_per_centroid=None, **fit),
                                  kmeans.fit_kmeans(x, 50, seed=1, **fit))
    for bad in (0, -3, 2.5, True, "64"):
        with pytest.raises(ConfigError, match="kmeans.batch_points_per_centroid"):
            kmeans.fit_kmeans(x, 50, init="greedy", batch_points_per_centroid=bad, gpu=False)
    with pytest.raises(ConfigError, match="needs kmeans.init=greedy"):
        kmeans.fit_kmeans(x, 50, init="kmeans++", batch_points_per_centroid=64, gpu=False)
    from audioclust.cluster.methods import KMeans

    with pytest.raises(ConfigError, match="needs kmeans.init=greedy"):   # from the config, before any embedding
        KMeans(init="kmeans++", batch_points_per_centroid=64)
    assert KMeans(init="greedy", batch_points_per_centroid=64).options["batch_points_per_centroid"] == 64


@pytest.mark.parametrize("seed", [0, 1])
def test_a_full_lloyd_step_never_raises_the_inertia(seed):
    """kmeans.refine: each full Lloyd step (assign, then every centroid to the mean of its rows, an empty one kept)
    lowers the inertia or keeps it, from any centroids, in batches smaller than the rows (streamed)."""
    x = _overlapping(6000, 30, 16, seed)
    c = np.random.default_rng(seed).standard_normal((30, 16)).astype(np.float32) * 2   # poor, some empty
    before = _inertia(x, c)
    for _ in range(3):
        c = kmeans.lloyd_step(x, c, gpu=False, batch=1000)
        after = _inertia(x, c)
        assert after <= before * (1 + 1e-6)
        before = after
    assert before < 0.9 * _inertia(x, np.random.default_rng(seed).standard_normal((30, 16)).astype(np.float32) * 2)


def _cpuinfo(tmp_path, vendor: str, flags: str) -> str:
    path = tmp_path / "cpuinfo"
    cpu = f"processor\t: {{}}\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n"
    path.write_text(cpu.format(0) + "\n" + cpu.format(1))
    return str(path)


def test_openblas_coretype_for_faiss(tmp_path, monkeypatch):
    """FAISS's bundled OpenBLAS on Intel CPUs it does not know: OPENBLAS_CORETYPE is set from the CPU's flags
    (AVX-512: SkylakeX, AVX2 + FMA: Haswell), never over the user's value, never once FAISS is loaded, not on
    other vendors or without /proc/cpuinfo."""
    import sys

    from audioclust.cluster.faiss_backend import openblas_coretype

    monkeypatch.setenv("OPENBLAS_CORETYPE", "")   # restored after the test, whatever it was
    monkeypatch.delitem(sys.modules, "faiss", raising=False)
    avx512 = "fpu sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl"
    cases = [("GenuineIntel", avx512, "SkylakeX"), ("GenuineIntel", "sse2 avx avx2 fma", "Haswell"),
             ("GenuineIntel", "sse2 sse4_2 avx", None), ("AuthenticAMD", avx512, None)]
    for vendor, flags, want in cases:
        monkeypatch.delenv("OPENBLAS_CORETYPE")
        assert openblas_coretype(_cpuinfo(tmp_path, vendor, flags)) == want
        assert os.environ.get("OPENBLAS_CORETYPE") == want
        monkeypatch.setenv("OPENBLAS_CORETYPE", "")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")   # the user's choice stays
    assert openblas_coretype(_cpuinfo(tmp_path, "GenuineIntel", avx512)) is None
    assert os.environ["OPENBLAS_CORETYPE"] == "Zen"
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    assert openblas_coretype(str(tmp_path / "none")) is None and "OPENBLAS_CORETYPE" not in os.environ
    monkeypatch.setitem(sys.modules, "faiss", object())   # already loaded: too late to choose
    assert openblas_coretype(_cpuinfo(tmp_path, "GenuineIntel", avx512)) is None


def test_faiss_runs_the_kernels_chosen_for_it():
    """In a fresh process: importing audioclust's k-means before FAISS leaves FAISS's own OpenBLAS on the kernels
    openblas_coretype chose for this CPU (threadpoolctl reads them back); on CPUs it leaves alone, nothing set."""
    import subprocess
    import sys

    code = ("import os, numpy, audioclust.cluster.kmeans, faiss\n"
            "from threadpoolctl import threadpool_info\n"
            "arch = [i.get('architecture') for i in threadpool_info() if i.get('internal_api') == 'openblas'"
            " and 'faiss' in i.get('filepath', '')]\n"
            "print(os.environ.get('OPENBLAS_CORETYPE'), arch[0] if arch else None)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    chosen, arch = out.stdout.split()
    if chosen == "None" or arch == "None":
        pytest.skip(f"nothing chosen on this CPU ({chosen}) or no OpenBLAS of FAISS's own ({arch})")
    assert arch.lower() == chosen.lower()
    assert not out.stderr.strip()


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
    relaxed = kmeans.fit_kmeans(x, 50, niter=10, init="greedy", gpu=True, refine=1, relax=1.5)
    assert _inertia(x, relaxed) <= 1.01 * ref
    batched = kmeans.fit_kmeans(x, 50, niter=20, init="greedy", gpu=True, refine=1, relax=1.3,
                                batch_points_per_centroid=40)   # the 100k settings: batches on the GPU index
    assert _inertia(x, batched) <= 1.01 * ref
