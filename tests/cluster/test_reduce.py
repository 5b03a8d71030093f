import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster.reduce import Reducer
from audioclust.errors import ConfigError


def test_pca_state_round_trip_reapplies_the_same_projection():
    x, _ = make_blobs(300, n_features=32, centers=4, random_state=0)
    red = Reducer("pca", dim=5)
    z = red.fit_transform(x.astype(np.float32))
    again = Reducer.from_state({k: np.asarray(v) for k, v in red.state().items()})
    assert z.shape == (300, 5) and np.allclose(again.transform(x.astype(np.float32)), z, atol=1e-4)


@pytest.mark.slow
def test_umap_keeps_clusters_and_leaves_new_rows_to_the_fitted_rows():
    x, y = make_blobs(500, n_features=20, centers=5, cluster_std=1.0, random_state=1)
    x = x.astype(np.float32)
    red = Reducer("umap", dim=4, n_neighbors=15)
    z = red.fit_transform(x[:400])
    assert z.shape == (400, 4)
    from sklearn.neighbors import NearestNeighbors

    _, nn = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    assert (y[:400][nn[:, 1]] == y[:400]).mean() > 0.95  # neighbourhoods survive the reduction
    for reducer in (red, Reducer.from_state({k: np.asarray(v) for k, v in red.state().items()})):
        with pytest.raises(ConfigError, match="fit them again"):   # no model kept: Stage places rows (neighbours.py)
            reducer.transform(x[400:])


def test_exact_neighbours_match_a_brute_force_search():
    """The neighbours UMAP starts from below SMALL rows: every row's k nearest, distances recomputed exactly."""
    from audioclust.cluster.reduce import knn

    x = np.random.default_rng(0).normal(size=(300, 24)).astype(np.float32) * 50
    near, dist = knn(x, 7)
    full = np.linalg.norm(x[:, None] - x[None], axis=2)
    assert (near[:, 0] == np.arange(300)).all() and (dist[:, 0] == 0).all()
    np.testing.assert_array_equal(near, np.argsort(full, axis=1, kind="stable")[:, :7])
    np.testing.assert_allclose(dist, np.take_along_axis(full, near, 1), rtol=1e-5, atol=1e-4)


def test_none_and_bad_values():
    x = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    assert Reducer().fit_transform(x) is x and Reducer.from_state(Reducer().state()).method == "none"
    with pytest.raises(ConfigError, match="unknown reduce.method"):
        Reducer("tsne")
    with pytest.raises(ConfigError):
        Reducer("pca", dim=0)


def test_umap_fitted_on_a_sample_maps_every_row_and_keeps_blobs_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(3, 16))
    labels = np.repeat(np.arange(3), 200)
    x = (centres[labels] + rng.normal(size=(600, 16))).astype(np.float32)
    red = Reducer("umap", dim=2, n_neighbors=15, fit_sample=150)
    z = red.fit_transform(x)
    assert z.shape == (600, 2) and np.isfinite(z).all()
    means = np.stack([z[labels == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(z[labels == c] - means[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(means[a] - means[b]) for a in range(3) for b in range(a + 1, 3)]
    assert min(gaps) > 3 * spread   # rows outside the fitted sample land with their own blob
    np.testing.assert_allclose(Reducer("umap", dim=2, n_neighbors=15, fit_sample=150).fit_transform(x), z, atol=1e-4)


def test_umap_on_a_handful_of_rows_reduces_to_fewer_dimensions_instead_of_failing():
    """The default reduction on tiny folders: UMAP's spectral start needs more rows than dimensions + 1."""
    from audioclust.cluster.reduce import Reducer

    for n, dim in ((2, 64), (3, 1), (5, 3), (8, 6), (12, 10)):
        x = np.random.default_rng(n).standard_normal((n, 64)).astype(np.float32)
        r = Reducer("umap")
        z = r.fit_transform(x)
        assert z.shape == (n, dim) and np.isfinite(z).all()
        assert r.method == ("none" if n == 2 else "umap")


@pytest.mark.parametrize("gpu", [False, "auto"])
def test_umaps_neighbours_are_searched_where_the_runs_kmeans_gpu_says(gpu, monkeypatch):
    """kmeans.gpu=false keeps FAISS on the CPU for UMAP's neighbours too (they used to probe the GPU, gpu=auto)."""
    from audioclust.cluster import reduce as reduce_module
    from audioclust.cluster.methods import KMeans
    from audioclust.cluster.pipeline import Stage

    asked = []
    real = reduce_module.flat_index
    monkeypatch.setattr(reduce_module, "flat_index", lambda d, g="auto": asked.append(g) or real(d, False))
    x = np.random.default_rng(0).normal(size=(60, 8)).astype(np.float32)
    Stage("l2", {"method": "umap", "dim": 2, "n_neighbors": 5}, KMeans(gpu=gpu)).fit(x, 3)
    assert asked == [gpu]
