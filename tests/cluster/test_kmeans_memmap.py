"""k-means over memory-mapped embeddings: trained on a sample, assigned and refined in streamed batches."""

import numpy as np
import pytest

from audioclust import io
from audioclust.cluster import kmeans


def test_kmeans_trains_on_a_sample_of_a_memmap_and_assigns_in_batches(tmp_path):
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((4, 8)).astype(np.float32) * 10
    x = (centers[rng.integers(0, 4, 5000)] + rng.standard_normal((5000, 8))).astype(np.float32)
    io.write_npy(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    sample = kmeans.training_sample(mm, 4, 50, seed=0)
    assert sample.shape == (200, 8) and len(np.unique(sample, axis=0)) == 200
    cen = kmeans.fit_kmeans(mm, 4, niter=20, max_points_per_centroid=50, init="kmeans++")
    assert np.sort(np.linalg.norm(cen[:, None] - centers[None], axis=2).min(0)).max() < 1.0  # each true centre found (sampling error ~0.4)
    pre = kmeans.Preprocess("none").fit(x)
    streamed = kmeans.assign(mm, cen, batch=333, transform=pre)
    whole = kmeans.assign(x, cen, batch=len(x))
    np.testing.assert_array_equal(streamed[0], whole[0])
    np.testing.assert_allclose(streamed[1], whole[1], rtol=1e-5)
    with pytest.raises(Exception, match="unknown kmeans.init"):
        kmeans.fit_kmeans(x, 4, init="nope")


def test_lloyd_step_streamed_over_a_memmap_is_the_exact_mean_and_lowers_inertia(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3001, 6)).astype(np.float32)
    io.write_npy(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    cen = np.vstack([x[:5], np.full((1, 6), 1e3, np.float32)])  # the last centroid gets no rows
    moved = kmeans.lloyd_step(mm, cen, gpu=False, batch=700)
    labels, d = kmeans.assign(x, cen, gpu=False)
    for j in range(5):
        np.testing.assert_allclose(moved[j], x[labels == j].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(moved[5], cen[5])
    assert (kmeans.assign(x, moved, gpu=False)[1] ** 2).sum() < (d ** 2).sum()
    sampled = kmeans.fit_kmeans(x, 5, niter=5, max_points_per_centroid=40, gpu=False)
    refined = kmeans.fit_kmeans(x, 5, niter=5, max_points_per_centroid=40, gpu=False, refine=1)
    np.testing.assert_allclose(refined, kmeans.lloyd_step(x, sampled, gpu=False), rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="kmeans.refine must be >= 0"):
        kmeans.fit_kmeans(x, 5, refine=-1)
