"""cluster.method=hdbscan (density.HDBSCAN): the number of clusters found, noise (-1) labelled, assigned and scored, state in npz."""
import io

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn.datasets import make_blobs

from audioclust.cluster import density
from audioclust.cluster.metrics import cluster_accuracy, clustering_scores
from audioclust.cluster.pipeline import Clusterer, Stage
from audioclust.errors import ConfigError
from audioclust.tasks.builders import build_clusterer

CENTERS = 5


@pytest.fixture(scope="module")
def blobs():
    """5 well-separated blobs of 80 points in 6-d and 12 outliers far from every blob and from each other."""
    x, y = make_blobs(400, n_features=6, centers=CENTERS, cluster_std=0.5, center_box=(-20, 20), random_state=1)
    rng = np.random.default_rng(0)
    out = rng.normal(size=(12, 6))
    out = 150 * out / np.linalg.norm(out, axis=1, keepdims=True)   # on a sphere of radius 150: alone
    return np.r_[x, out].astype(np.float32), np.r_[y, np.full(12, -1)]


def _stage(**options):
    return Stage("none", {"method": "none"}, density.HDBSCAN(**{"min_cluster_size": 15, **options}, gpu=False))


def test_finds_the_blobs_and_labels_outliers_noise(blobs):
    x, y = blobs
    stage = _stage()
    labels, dists, z = stage.fit(x, None)
    assert len(np.unique(labels[labels >= 0])) == CENTERS == len(stage.centroids) == len(stage.method.radius_)
    assert (labels[y == -1] == -1).all()                                   # every outlier is noise ...
    assert (labels[y >= 0] >= 0).mean() > 0.95                             # ... and nearly no blob point
    assert cluster_accuracy(y[labels >= 0], labels[labels >= 0]) == 1.0    # the clusters are the blobs
    member = labels >= 0                                                   # members: to their own centroid
    own = np.linalg.norm(z[member] - stage.centroids[labels[member]], axis=1)
    assert np.allclose(dists[member], own, atol=1e-4)
    nearest = np.linalg.norm(z[~member, None] - stage.centroids[None], axis=2).min(1)   # noise: to the nearest
    assert np.allclose(dists[~member], nearest, rtol=1e-4)
    assert np.allclose(stage.method.radius_, [own[labels[member] == c].max() for c in range(CENTERS)], rtol=1e-5)


def test_assign_members_back_and_far_points_to_noise(blobs):
    x, y = blobs
    stage = _stage()
    labels, dists, _ = stage.fit(x, None)
    again, d2, _ = stage.assign(x)
    member = labels >= 0
    assert (again[member] == labels[member]).all()          # radius_quantile=1: every member comes back
    assert np.allclose(d2[member], dists[member], atol=1e-3)
    assert (again[y == -1] == -1).all()                     # the outliers stay noise
    far = stage.centroids + 30.0                            # far from every blob
    assert (stage.assign(far)[0] == -1).all()
    near = stage.centroids + 0.01                           # at each centre: its cluster
    assert (stage.assign(near)[0] == np.arange(CENTERS)).all()


def test_radius_quantile_makes_the_clusters_tighter(blobs):
    x, _ = blobs
    stage = _stage(radius_quantile=0.5)
    labels, _, _ = stage.fit(x, None)
    again = stage.assign(x)[0]
    kept = (again[labels >= 0] >= 0).mean()
    assert 0.4 < kept < 0.6                                 # the nearer half of each cluster's members


def test_state_round_trips_through_npz(blobs):
    x, _ = blobs
    clusterer = Clusterer(_stage())
    fit = clusterer.fit(x, None, None)
    buf = io.BytesIO()
    np.savez(buf, **clusterer.state())                      # as cluster.py writes preprocess.npz
    buf.seek(0)
    state = dict(np.load(buf, allow_pickle=False))          # plain arrays: loads without pickles
    assert str(state["cluster_method"]) == "hdbscan" and state["cluster_radius"].shape == (CENTERS,)
    back = Clusterer.from_state(state, gpu=False)
    assert isinstance(back.content.method, density.HDBSCAN) and np.array_equal(back.centroids, fit[3])
    labels, dists, _ = back.assign(x, None)
    assert np.array_equal(labels, clusterer.assign(x, None)[0]) and (labels[fit[0] >= 0] == fit[0][fit[0] >= 0]).all()


def test_scores_with_and_without_noise():
    y = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
    c = np.array([0, 0, 0, -1, 1, 1, 1, 1, -1, -1])
    x = np.random.default_rng(0).normal(size=(10, 3))
    s = clustering_scores(x, c, y)
    assert s["n_clusters"] == 2 and s["n_noise"] == 3 and s["noise_fraction"] == pytest.approx(0.3)
    assert s["cluster_sizes"] == [3, 4]
    assert s["acc"] == pytest.approx(7 / 10)               # noise clips count as wrong
    assert s["acc_clustered"] == 1.0 and s["nmi_clustered"] == pytest.approx(1.0)
    assert s["ari_clustered"] == pytest.approx(1.0)
    assert 0 < s["nmi"] < 1                                  # noise as one more label
    k = clustering_scores(x, np.r_[np.zeros(5, int), np.ones(5, int)], y)   # no noise: nothing added but counts
    assert k["n_noise"] == 0 and k["noise_fraction"] == 0 and "nmi_clustered" not in k
    assert "nmi_clustered" in clustering_scores(x, np.r_[np.zeros(5, int), np.ones(5, int)], y, noise=True)
    with pytest.raises(ValueError, match=">= -1"):
        clustering_scores(x, np.r_[np.zeros(9, int), -2], y)


def test_all_noise_and_bad_options_fail_clearly():
    x = np.random.default_rng(0).uniform(size=(30, 4)).astype(np.float32)
    with pytest.raises(ConfigError, match="at least hdbscan.min_cluster_size=50"):
        _stage(min_cluster_size=50).fit(x, None)
    with pytest.raises(ConfigError, match="hdbscan.radius_quantile"):
        _stage(radius_quantile=1.5)
    with pytest.raises(ConfigError, match="hdbscan.selection"):
        _stage(selection="best")
    with pytest.raises(ConfigError, match="cluster.method=dbscan: no such clustering method"):
        Stage.from_state({"cluster_method": np.array("dbscan")})
    with pytest.raises(ConfigError, match="cluster.method=dbscan: no such clustering method"):
        build_clusterer(_cfg(cluster={"method": "dbscan"}))
    assert density.auto_min_cluster_size(300) == 5 and density.auto_min_cluster_size(3000) == 30
    assert density.auto_min_cluster_size(10 ** 6) == 500


def _cfg(**over):
    base = {"seed": 0, "preprocess": "l2", "reduce": {"method": "pca", "dim": 4, "n_neighbors": 10},
            "kmeans": {"_target_": "audioclust.cluster.methods.KMeans", "k": None, "search": None, "gpu": False,
                       "niter": 5, "nredo": 1, "max_points_per_centroid": 256, "init": "kmeans++", "refine": 0},
            "hdbscan": {"_target_": "audioclust.cluster.density.HDBSCAN", "min_cluster_size": None, "min_samples": None,
                        "selection": "eom", "radius_quantile": 1.0},
            "voice": {"groups": 0, "rounds": 0, "target": "content"},
            "cluster": {"method": "hdbscan", "fit_on": "auto"}}
    return OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(over))


def test_config_refuses_k_with_hdbscan_and_hdbscan_with_voice_groups():
    assert isinstance(build_clusterer(_cfg()).content.method, density.HDBSCAN)
    assert build_clusterer(_cfg(hdbscan={"selection": "leaf"})).content.method.options["selection"] == "leaf"
    with pytest.raises(ConfigError, match="hdbscan finds the number of clusters itself"):
        build_clusterer(_cfg(kmeans={"k": 10}))
    with pytest.raises(ConfigError, match="hdbscan finds the number of clusters itself"):
        build_clusterer(_cfg(kmeans={"search": [2, 5]}))
    with pytest.raises(ConfigError, match="voice groups co-cluster with clusters every clip is in"):
        build_clusterer(_cfg(voice={"groups": 3}))
    with pytest.raises(ConfigError, match="cluster.min_cluster_size is now hdbscan.min_cluster_size"):
        build_clusterer(_cfg(cluster={"min_cluster_size": 3}))   # the old key, given on the command line


def test_reports_show_noise_apart(tmp_path):
    """Plots and explorer data take cluster -1: grey on the map, out of the size bars, the last card and row."""
    from audioclust.report import explorer, plots

    rng = np.random.default_rng(0)
    c = np.array([0] * 5 + [1] * 5 + [-1] * 3)
    z, d = rng.normal(size=(13, 4)), rng.uniform(size=13)
    plots.plot_map(z, c, tmp_path / "map.png")
    plots.plot_sizes(c, tmp_path / "sizes.png")
    assert (tmp_path / "map.png").read_bytes()[:4] == (tmp_path / "sizes.png").read_bytes()[:4] == b"\x89PNG"
    labels = ["a"] * 5 + ["b"] * 5 + ["a", "b", "b"]
    data = explorer.page_data(z[:, :2], c, d, [f"/x/{i}.wav" for i in range(13)], [0.0] * 13, labels, tmp_path,
                              picks=explorer.pick_extremes(d, c, 2, 1), scores=clustering_scores(z, c, labels))
    assert data["k"] == 2 and data["noise"] == 3 and [card["id"] for card in data["clusters"]] == [0, 1, -1]
    assert data["clusters"][-1]["size"] == 3 and data["confusion"]["clusters"] == [0, 1, -1]
    assert data["scores"]["noise_fraction"] == pytest.approx(3 / 13) and "nmi_clustered" in data["scores"]
    page = explorer.render(data)
    assert '"noise":3' in page and "farthest from every cluster" in page
