"""audioclust/search/index.py: exact search is numpy's brute force, the approximate index keeps recall@10 >= 0.95
against it on clustered data, and an index saved and loaded answers as before."""
import numpy as np
import pytest

from audioclust.errors import ConfigError
from audioclust.search.index import RECALL, Index, recall_at


def blobs(n: int, d: int = 32, centres: int = 100, seed: int = 0, draw: int = 0, spread: float = 4) -> np.ndarray:
    """Seeded clustered rows (the centres fixed by seed, `spread` apart; `draw` picks other rows of the same mixture)."""
    c = spread * np.random.default_rng(seed).standard_normal((centres, d))
    rng = np.random.default_rng([seed, draw])
    return (c[rng.integers(0, centres, n)] + rng.standard_normal((n, d))).astype(np.float32)


def brute(x: np.ndarray, q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((q[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1))
    ids = np.argsort(d, axis=1, kind="stable")[:, :n]
    return ids, np.take_along_axis(d, ids, 1)


@pytest.mark.parametrize("space", ["none", "l2", "cosine"])
def test_exact_search_is_brute_force(space):
    x, q = blobs(1500), blobs(40, draw=1)
    index = Index.build(x, space=space)
    assert index.kind == "exact" and len(index) == 1500 and index.d == 32
    got = index.search(q, 7, gpu=False)
    if space == "none":
        xs, qs = x, q
    else:   # the space by hand: l2 = z-score with the set's mean and spread, then unit length; cosine = unit length
        mean, std = (x.mean(0), x.std(0) + 1e-6) if space == "l2" else (0, 1)
        xs, qs = (x - mean) / std, (q - mean) / std
        xs, qs = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (xs, qs))
    ids, dists = brute(xs, qs, 7)
    assert (got.ids == ids).mean() > 0.99   # float32 against float64: a rare swap of two near-equal neighbours
    np.testing.assert_allclose(got.distances, dists, rtol=1e-3, atol=1e-3)
    assert got.ids.dtype == np.int64 and got.distances.dtype == np.float32 and (np.diff(got.distances, axis=1) >= 0).all()


def test_a_row_of_the_set_finds_itself_first_and_one_vector_is_one_query():
    x = blobs(800)
    got = Index.build(x).search(x[123], 3, gpu=False)
    assert got.ids.shape == (1, 3) and got.ids[0, 0] == 123 and got.distances[0, 0] < 1e-3


@pytest.mark.parametrize("d, kind", [(32, "IVF256,SQ8,Refine"), (300, "PCA256,IVF256,SQ8,Refine")])
def test_approximate_recall_on_clustered_data(d, kind):
    x, q = blobs(20_000, d, spread=1), blobs(500, d, draw=1, spread=1)   # overlapping clusters
    approx = Index.build(x, exact_up_to=10_000)
    exact = Index.build(x, exact_up_to=10_000_000)
    assert approx.kind == kind and exact.kind == "exact"
    assert 1 <= approx.nprobe < approx.nlist, "calibrated: fewer probes than lists"
    assert approx.recall >= RECALL   # its calibration target, on its own rows
    assert recall_at(approx.search(q, 10, gpu=False).ids, exact.search(q, 10, gpu=False).ids) >= 0.95


def test_recall_at_leaves_the_query_row_out():
    found, truth = np.array([[5, 1, 2], [7, 8, 9]]), np.array([[1, 5, 3], [7, 8, 4]])
    assert recall_at(found, truth, k=2) == pytest.approx((2 + 2) / 4)
    assert recall_at(found, truth, rows=np.array([5, 7]), k=2) == pytest.approx((1 + 1) / 4)   # [1,2] v [1,3]; [8,9] v [8,4]


@pytest.mark.parametrize("exact_up_to", [10_000_000, 1_000])
def test_save_and_load_answer_the_same(tmp_path, exact_up_to):
    x, q = blobs(5_000), blobs(50, draw=1)
    index = Index.build(x, space="l2", exact_up_to=exact_up_to)
    before = index.search(q, 10, gpu=False)
    folder = index.save(tmp_path / "idx")
    assert sorted(p.name for p in folder.iterdir()) == ["index.faiss", "index.npz"]
    np.load(folder / "index.npz", allow_pickle=False)   # plain arrays: loads without pickles
    for mmap in (False, True):
        again = Index.load(folder, mmap=mmap)
        assert (again.kind, again.nprobe, again.space, again.recall) == (index.kind, index.nprobe, "l2", index.recall)
        after = again.search(q, 10, gpu=False)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_array_equal(after.distances, before.distances)


def test_bad_input_is_one_clear_error(tmp_path):
    index = Index.build(blobs(200))
    with pytest.raises(ConfigError, match=r"queries must be \(m, 32\)"):
        index.search(np.zeros((2, 8), np.float32), 5)
    with pytest.raises(ConfigError, match="n must be an integer"):
        index.search(np.zeros(32, np.float32), 0)
    with pytest.raises(ConfigError, match="unknown space='dot'"):
        Index.build(blobs(200), space="dot")
    with pytest.raises(ConfigError, match="no search index there"):
        Index.load(tmp_path)
    got = index.search(np.zeros(32, np.float32), 500, gpu=False)   # more than there are: all of them
    assert got.ids.shape == (1, 200) and sorted(got.ids[0]) == list(range(200))
