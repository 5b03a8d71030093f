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
def test_umap_keeps_clusters_and_refuses_assign():
    x, y = make_blobs(400, n_features=20, centers=5, cluster_std=1.0, random_state=1)
    red = Reducer("umap", dim=4, n_neighbors=15)
    z = red.fit_transform(x.astype(np.float32))
    assert z.shape == (400, 4)
    from sklearn.neighbors import NearestNeighbors

    _, nn = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    assert (y[nn[:, 1]] == y).mean() > 0.95  # neighbourhoods survive the reduction
    with pytest.raises(ConfigError, match="cannot take new audio"):
        red.transform(x)


def test_none_and_bad_values():
    x = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    assert Reducer().fit_transform(x) is x and Reducer.from_state({}).method == "none"
    with pytest.raises(ConfigError, match="unknown reduce.method"):
        Reducer("tsne")
    with pytest.raises(ConfigError):
        Reducer("pca", dim=0)
