"""Host and GPU memory of the cluster path: Preprocess fitted and applied a chunk of rows at a time (or in place),
PCA applied in chunks, greedy seeding prepared once for restarts that share their rows, GPU resources made once."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from audioclust.cluster import kmeans, reduce
from audioclust.cluster.methods import KMeans
from audioclust.cluster.pipeline import Stage


def _data(n: int = 3000, d: int = 48, dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Random rows, each dimension with its own offset and spread."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.2, 5, d) + rng.uniform(-5, 5, d)).astype(dtype)


def _old(kind: str, x: np.ndarray, weights=None) -> np.ndarray:
    """Preprocess as it was (whole-array numpy, sums in x's dtype): the reference."""
    scaled = kind in ("standard", "l2")
    mean = x.mean(0) if scaled else np.zeros(x.shape[1], np.float32)
    scale = x.std(0) + 1e-6 if scaled else np.ones(x.shape[1], np.float32)
    if weights is not None:
        scale = scale / np.asarray(weights, np.float32)
    y = (x - mean) / scale
    if kind == "l2":
        y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    return y.astype(np.float32)


@pytest.fixture
def small_chunks(monkeypatch):
    """7 rows per chunk: every array below is read and written in many chunks, the last one short."""
    monkeypatch.setattr(kmeans, "chunk_rows", lambda d, itemsize=8, budget=0: 7)
    monkeypatch.setattr(reduce, "chunk_rows", lambda d, itemsize=8, budget=0: 7)


@pytest.mark.parametrize("kind", kmeans.Preprocess.KINDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_preprocess_equals_the_old_whole_array_one(kind, weighted):
    """Within 1e-6 of the old Preprocess where it summed in float64 (float64 rows); on float32 rows the old float32
    sums were off by more than the new float64 ones (both against the exact statistics)."""
    x = _data()
    w = np.random.default_rng(1).uniform(0.5, 2, x.shape[1]) if weighted else None
    new = kmeans.Preprocess(kind).fit(x, w)(x)
    assert new.dtype == np.float32 and new.shape == x.shape
    np.testing.assert_allclose(new, _old(kind, x.astype(np.float64), w), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new, _old(kind, x, w), rtol=1e-5, atol=1e-5)
    if kind != "none":
        exact = _old(kind, x.astype(np.float64), w)
        assert np.abs(new - exact).max() <= np.abs(_old(kind, x, w) - exact).max()


@pytest.mark.parametrize("kind", kmeans.Preprocess.KINDS)
def test_transform_given_the_state_is_the_old_expression_exactly(kind, small_chunks):
    """The same mean and scale: chunked (7 rows) float32 output equals the old whole-array expression bit for bit."""
    x = _data(500)
    pre = kmeans.Preprocess(kind).fit(x)
    y = (x - pre.mean) / pre.scale
    if kind == "l2":
        y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    np.testing.assert_array_equal(pre(x), y.astype(np.float32))


@pytest.mark.parametrize("kind", ["standard", "l2"])
def test_chunked_fit_and_transform_equal_the_whole_array(kind, monkeypatch):
    x = _data(1001)
    whole = kmeans.Preprocess(kind).fit(x)
    monkeypatch.setattr(kmeans, "chunk_rows", lambda d, itemsize=8, budget=0: 7)
    chunked = kmeans.Preprocess(kind).fit(x)
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(chunked.scale, whole.scale, rtol=1e-6)
    mean, std = kmeans.mean_std(x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(std, x.astype(np.float64).std(0), rtol=1e-12)
    np.testing.assert_array_equal(chunked(x), chunked(x[None][0]))           # a view reads the same
    np.testing.assert_allclose(chunked(x), whole(x), rtol=1e-6, atol=1e-6)


def test_memory_mapped_rows_preprocess_as_in_ram(tmp_path, small_chunks):
    x = _data(300)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    pre = kmeans.Preprocess("l2").fit(mm)
    np.testing.assert_array_equal(pre.mean, kmeans.Preprocess("l2").fit(x).mean)
    np.testing.assert_array_equal(pre(mm), pre(x))
    assert type(pre(mm)) is np.ndarray


@pytest.mark.parametrize("kind", kmeans.Preprocess.KINDS)
def test_in_place_and_fit_allocate_no_second_copy(kind, small_chunks):
    """out=x overwrites the caller's array (the same buffer comes back) and allocates at most a chunk; fitting
    reads a chunk at a time (float64 chunks, no float64 copy of x); a new output is one array the size of x."""
    x = _data(20000, 64)
    expected = kmeans.Preprocess(kind).fit(x)(x)
    tracemalloc.start()
    try:
        pre = kmeans.Preprocess(kind).fit(x)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        y = pre(x, out=x)
        inplace_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        pre(expected)
        new_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y is x
    np.testing.assert_array_equal(x, expected)
    assert fit_peak < x.nbytes / 20 and inplace_peak < x.nbytes / 20
    assert x.nbytes <= new_peak < 1.1 * x.nbytes


def test_stage_preprocesses_its_own_array_in_place(monkeypatch):
    """Stage.fit(inplace=True) (the voice groups' standardised rows) gives what a copy gives, in the same buffer."""
    x = _data(2000, 16)
    ref = Stage("l2", method=KMeans(nredo=1, niter=5, gpu=False)).fit(x.copy(), 5)
    mine = x.copy()
    got = Stage("l2", method=KMeans(nredo=1, niter=5, gpu=False)).fit(mine, 5, inplace=True)
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a, b)
    assert np.shares_memory(got[2], mine)


def test_pca_transform_in_chunks_equals_the_whole_array(small_chunks):
    x = kmeans.Preprocess("standard").fit(_data(400, 32))(_data(400, 32))
    red = reduce.Reducer("pca", dim=5, seed=0)
    z = red.fit_transform(x)
    assert z.dtype == np.float32 and z.shape == (400, 5)
    np.testing.assert_allclose(z, ((x - red.mean) @ red.components.T).astype(np.float32), rtol=1e-5, atol=1e-5)


def test_restarts_on_the_same_rows_prepare_the_seeding_once(monkeypatch):
    """nredo greedy restarts whose seeding sample is the whole training sample share its norms and transpose;
    the centroids are those of seeding each restart from scratch, as before."""
    x = _data(1500, 8)
    calls = []
    real = kmeans.seeding_rows
    monkeypatch.setattr(kmeans, "seeding_rows", lambda rows: calls.append(len(rows)) or real(rows))
    got = kmeans.fit_kmeans(x, 12, niter=5, nredo=3, seed=2, init="greedy", gpu=False)
    assert calls == [1500]
    best = None
    for r in range(3):   # the former loop: every restart seeds on its own call
        rseed = 2 + 1000003 * r
        start = kmeans.greedy_kmeanspp(kmeans.training_sample(x, 1, 4096, rseed), 12, rseed, 16)
        obj, cen = kmeans._train_from(np.ascontiguousarray(x), start, 5, 1.0, rseed, False, 256, False)
        best = (obj, cen) if best is None or obj < best[0] else best
    np.testing.assert_array_equal(got, best[1])


def test_gpu_resources_are_made_once_per_device(monkeypatch):
    """The cache of FAISS GPU resources is keyed by device: one object per GPU however many indexes use it."""
    import faiss

    made = []

    class Resources:
        def __init__(self):
            made.append(self)

    monkeypatch.setattr(faiss, "StandardGpuResources", Resources, raising=False)
    monkeypatch.setattr(kmeans, "_GPU_RESOURCES", {})
    a, b, c = kmeans.gpu_resources(0), kmeans.gpu_resources(1), kmeans.gpu_resources(0)
    assert a is c and a is not b and made == [a, b]


@pytest.mark.gpu
def test_gpu_assign_and_training_reuse_one_set_of_resources():
    """On GPU: k-means, the full Lloyd step and two assignments make the resources once per GPU, and assign as
    the CPU does."""
    import faiss

    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("no GPU visible to FAISS")
    x = _data(5000, 16)
    kmeans._GPU_RESOURCES.clear()
    cen = kmeans.fit_kmeans(x, 20, niter=5, nredo=2, init="greedy", gpu=True, refine=1)
    made = dict(kmeans._GPU_RESOURCES)
    assert sorted(made) == list(range(faiss.get_num_gpus()))
    labels = kmeans.assign(x, cen, gpu=True)[0]
    kmeans.assign(x, cen, gpu=True)
    assert all(kmeans._GPU_RESOURCES[i] is made[i] for i in made) and len(kmeans._GPU_RESOURCES) == len(made)
    np.testing.assert_array_equal(labels, kmeans.assign(x, cen, gpu=False)[0])
