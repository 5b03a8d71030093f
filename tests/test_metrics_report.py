import json

import matplotlib.image
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster import kmeans, report
from audioclust.cluster.metrics import cluster_accuracy, clustering_scores
from audioclust.errors import ConfigError


def test_accuracy_uses_the_best_matching():
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 2, 2, 2]) == pytest.approx(5 / 6)
    assert cluster_accuracy(["a", "a", "b", "b"], [7, 7, 3, 3]) == 1.0
    assert cluster_accuracy([0, 0, 0, 0], [0, 1, 2, 3]) == 0.25  # extra clusters count as wrong


def test_scores_perfect_permuted_and_partial_labels():
    x, y = make_blobs(300, centers=4, cluster_std=0.3, random_state=0)
    s = clustering_scores(x, (y + 1) % 4, list(y))
    assert s["acc"] == s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    assert s["silhouette"] > 0.7 and s["cluster_sizes"] == [75] * 4
    labels = [None if i % 3 == 0 else int(v) for i, v in enumerate(y)]
    assert clustering_scores(x, y, labels)["n_labelled"] == 200
    rand = clustering_scores(x, np.random.default_rng(0).integers(0, 4, 300), list(y))
    assert abs(rand["silhouette"]) < 0.1 and rand["nmi"] < 0.1
    json.dumps(s)
    assert "acc" not in clustering_scores(x, y)


def test_faiss_kmeans_finds_blobs_and_assigns_in_batches():
    x, y = make_blobs(2000, n_features=16, centers=5, cluster_std=0.5, random_state=1)
    cen = kmeans.fit_kmeans(x.astype(np.float32), 5, niter=20, nredo=2, seed=0)
    labels, dist = kmeans.assign(x.astype(np.float32), cen, batch=300)
    assert cen.shape == (5, 16) and cluster_accuracy(y, labels) == 1.0
    brute = np.linalg.norm(x[:, None] - cen[None], axis=2)
    assert np.array_equal(labels, brute.argmin(1)) and np.allclose(dist, brute.min(1), atol=1e-3)
    with pytest.raises(ConfigError, match="larger than the number of clips"):
        kmeans.fit_kmeans(x[:3].astype(np.float32), 5)
    with pytest.raises(ConfigError, match="different models"):
        kmeans.assign(x[:, :8].astype(np.float32), cen)


def test_preprocess_round_trips_through_its_state():
    x = np.random.default_rng(0).normal(3, 5, (50, 4)).astype(np.float32)
    for kind in kmeans.Preprocess.KINDS:
        pre = kmeans.Preprocess(kind).fit(x)
        again = kmeans.Preprocess.from_state({k: np.asarray(v) for k, v in pre.state().items()})
        assert np.allclose(pre(x), again(x))
    assert np.allclose(kmeans.Preprocess("standard").fit(x)(x).std(0), 1, atol=1e-3)
    with pytest.raises(ConfigError):
        kmeans.Preprocess("pca")


def test_plots_are_real_pngs_written_atomically(tmp_path):
    x, y = make_blobs(200, centers=3, random_state=0)
    dist = np.random.default_rng(0).random(200)
    report.plot_map(x, y, tmp_path / "map.png")
    report.plot_sizes(y, tmp_path / "sizes.png")
    picks = report.pick_examples(dist, y, n=4)
    assert all(sorted(dist[i] for i in idx) == sorted(dist[y == c])[:4] for c, idx in picks.items())
    report.plot_montage({c: [np.random.rand(16, 20)] * (c + 1) for c in range(3)}, tmp_path / "m.png", 4)
    for name in ("map.png", "sizes.png", "m.png"):
        img = matplotlib.image.imread(tmp_path / name)
        assert img.ndim == 3 and img.shape[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png", "map.png", "sizes.png"]
    with pytest.raises(ValueError):
        report.plot_montage({}, tmp_path / "x.png")
