"""Clustering of embeddings: scores, plots (and the FAISS k-means they are computed on)."""
import json

import matplotlib.image
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster import kmeans
from audioclust.cluster.metrics import cluster_accuracy, clustering_scores
from audioclust.errors import ConfigError
from audioclust.report import plots as report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_accuracy_uses_the_best_matching():
    # best matching: cluster 1->0, 0->1, 2->2 gives 2 + 1 + 2 correct
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 2, 2, 2]) == pytest.approx(5 / 6)
    assert cluster_accuracy([2, 2, 0, 0, 1, 1], [5, 5, 9, 9, 0, 0]) == 1.0
    assert cluster_accuracy(["a", "a", "b", "b"], [7, 7, 3, 3]) == 1.0
    assert cluster_accuracy(["dog", "dog", "cat", "cat", "cat"], [0, 1, 1, 1, 0]) == pytest.approx(3 / 5)
    assert isinstance(cluster_accuracy([0, 1], [0, 1]), float)


def test_accuracy_with_more_or_fewer_clusters_than_classes():
    assert cluster_accuracy([0, 0, 0, 0], [0, 1, 2, 3]) == 0.25  # extra clusters count as wrong
    # 2 classes split into 4 clusters: only one cluster per class can be matched
    assert cluster_accuracy([0, 0, 0, 1, 1, 1], [0, 0, 1, 2, 2, 3]) == pytest.approx(4 / 6)
    # 3 classes in 2 clusters: one class is never matched
    assert cluster_accuracy([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]) == pytest.approx(4 / 6)
    with pytest.raises(ValueError):
        cluster_accuracy([0, 1], [0])


def test_scores_perfect_permuted_clustering():
    x, y = make_blobs(300, centers=4, cluster_std=0.3, random_state=0)
    s = clustering_scores(x, (y + 1) % 4, list(y))
    assert s["acc"] == pytest.approx(1.0) and s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    assert s["ami"] == pytest.approx(1.0)
    assert s["silhouette"] > 0.7 and s["cluster_sizes"] == [75] * 4
    assert s["n_clips"] == 300 and s["n_clusters"] == 4 and s["n_labelled"] == 300
    assert json.loads(json.dumps(s)) == s
    assert {type(v) for k, v in s.items() if k != "cluster_sizes"} <= {int, float}
    assert all(type(v) is int for v in s["cluster_sizes"])
    plain = clustering_scores(x, y)
    assert not {"acc", "nmi", "ami", "ari", "n_labelled"} & set(plain)


def test_scores_string_and_partial_labels():
    x, y = make_blobs(300, centers=3, cluster_std=0.3, random_state=2)
    names = np.array(["bird", "car", "rain"])[y]
    s = clustering_scores(x, y, list(names))
    assert s["acc"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    # unknown labels are left out: score only the labelled two thirds, where one clip is mislabelled
    labels = [None if i % 3 == 0 else str(v) for i, v in enumerate(names)]
    first = next(i for i, v in enumerate(labels) if v is not None and v != "car")
    labels[first] = "car"
    s = clustering_scores(x, y, labels)
    assert s["n_labelled"] == 200 and s["n_clips"] == 300
    assert s["acc"] == pytest.approx(199 / 200)
    json.dumps(s)
    none = clustering_scores(x, y, [None] * 300)
    assert none["n_labelled"] == 0 and none["acc"] is None
    json.dumps(none)


def test_ami_corrects_nmi_for_chance():
    """Many small random clusters: NMI rises with their number alone, AMI stays near 0."""
    y = np.repeat(np.arange(5), 40)
    many = np.random.default_rng(0).integers(0, 50, len(y))
    s = clustering_scores(np.zeros((len(y), 1)), many, list(y))
    assert s["nmi"] > 0.2 and abs(s["ami"]) < 0.05


def test_grouping_scores_show_clusters_that_follow_the_recorder():
    """Clusters that follow the recorder, not the sound: high against the site, near 0 against the labels;
    rows without a value or in no cluster are left out, and a grouping of one group or one per row is skipped."""
    from audioclust.cluster.metrics import grouping_scores

    rng = np.random.default_rng(0)
    site = rng.integers(0, 4, 400)
    species = rng.integers(0, 4, 400)
    clusters = site.copy()
    clusters[:10] = -1
    by = grouping_scores(clusters, {"site": [f"s{v}" for v in site], "species": list(species),
                                    "date": [None] * 200 + ["d1"] * 200, "row": list(range(400))})
    assert set(by) == {"site", "species"}
    assert by["site"]["ami"] == pytest.approx(1.0) and by["site"]["n_groups"] == 4
    assert abs(by["species"]["ami"]) < 0.02


def test_silhouette_random_assignment_empty_clusters_and_subsample():
    x, y = make_blobs(3000, n_features=8, centers=4, cluster_std=0.5, random_state=0)
    rand = clustering_scores(x, np.random.default_rng(0).integers(0, 4, 3000), list(y))
    assert abs(rand["silhouette"]) < 0.1 and rand["nmi"] < 0.05 and abs(rand["ari"]) < 0.05
    sub = clustering_scores(x, y, max_silhouette=500, seed=1)
    assert sub["silhouette"] > 0.7 and sub["silhouette"] == clustering_scores(x, y, max_silhouette=500,
                                                                              seed=1)["silhouette"]
    one = clustering_scores(x[:10], [3] * 10)  # a single non-empty cluster: no silhouette
    assert one["silhouette"] is None and one["n_clusters"] == 1 and one["cluster_sizes"] == [0, 0, 0, 10]
    json.dumps(one)
    bad = x[:20].copy()
    bad[0, 0] = np.nan
    assert clustering_scores(bad, [0, 1] * 10)["silhouette"] is None
    with pytest.raises(ValueError):
        clustering_scores(x[:5], [0, 1, 0])


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


def test_pick_examples_returns_the_closest():
    dist = np.array([0.9, 0.1, 0.5, 0.3, 0.2, 0.8, 0.05])
    clusters = np.array([0, 0, 0, 1, 1, 1, 3])
    assert report.pick_examples(dist, clusters, n=2) == {0: [1, 2], 1: [4, 3], 3: [6]}
    assert report.pick_examples(dist, clusters, n=10)[0] == [1, 2, 0]
    x = np.random.default_rng(0).random(200)
    y = np.random.default_rng(1).integers(0, 3, 200)
    picks = report.pick_examples(x, y, n=4)
    assert all(sorted(x[i] for i in idx) == sorted(x[y == c])[:4] and (y[idx] == c).all()
               for c, idx in picks.items())
    assert all(type(i) is int for idx in picks.values() for i in idx)


def _check_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4) and img.shape[0] > 100 and img.shape[1] > 100


def test_plots_are_real_pngs_written_atomically(tmp_path):
    x, y = make_blobs(200, n_features=6, centers=3, random_state=0)
    report.plot_map(x, y, tmp_path / "map.png", title="blobs")
    report.plot_map(x, np.arange(200) % 25, tmp_path / "map25.png")  # more clusters than tab20 colours
    report.plot_sizes(y, tmp_path / "sizes.png")
    specs = {c: [np.random.default_rng(c).random((16, 20))] * (c + 1) for c in range(3)}
    specs[5] = []  # a cluster with no example: a blank row
    report.plot_montage(specs, tmp_path / "m.png", 4)
    report.plot_sizes(y, tmp_path / "sizes.png")  # overwriting is fine too
    names = ("m.png", "map.png", "map25.png", "sizes.png")
    for name in names:
        _check_png(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == list(names)  # no temp files left behind
    with pytest.raises(ValueError):
        report.plot_montage({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        report.plot_montage({0: [np.zeros(5)]}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        report.plot_map(x, y[:10], tmp_path / "x.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == list(names)  # failures leave nothing either
