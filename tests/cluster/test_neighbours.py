"""Assignment by the nearest fitted rows (audioclust/cluster/neighbours.py, pipeline.Stage): after UMAP, which keeps
no model, and for methods whose clusters are not their centroids' cells (HDBSCAN), read back from preprocess.npz's
plain arrays as mode=assign does."""
import io

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.api import npz_bytes
from audioclust.cluster.density import HDBSCAN
from audioclust.cluster.methods import KMeans
from audioclust.cluster.neighbours import Neighbours, vote
from audioclust.cluster.pipeline import Stage
from audioclust.errors import ConfigError


def _again(stage: Stage) -> Stage:
    """The stage as mode=assign reads it: preprocess.npz's bytes, loaded without pickles."""
    return Stage.from_state(dict(np.load(io.BytesIO(npz_bytes(stage.state())), allow_pickle=False)), gpu=False)


def _blobs(n=500, d=20, centers=5, seed=1):
    x, y = make_blobs(n, n_features=d, centers=centers, cluster_std=1.0, center_box=(-20, 20), random_state=seed)
    return x.astype(np.float32), y


def _with_their_blob(new, blob, fitted, fitted_blob) -> float:
    """The share of new rows in a cluster that holds at least a fifth of their blob's fitted rows (a method may split
    a blob, or merge two)."""
    share = {(b, c): np.mean(fitted[fitted_blob == b] == c) for b in np.unique(fitted_blob) for c in np.unique(fitted)}
    return float(np.mean([share.get((b, c), 0) >= 0.2 for b, c in zip(blob, new)]))


def test_vote_takes_the_most_common_label_ties_to_the_nearer_and_its_nearest_row():
    labels = np.array([[2, 1, 1], [3, 4, 4], [5, 5, 6], [7, 8, 9], [-1, -1, 0]])
    near = np.array([[10, 11, 12], [20, 21, 22], [30, 31, 32], [40, 41, 42], [50, 51, 52]])
    got, at = vote(labels, near)
    assert got.tolist() == [1, 4, 5, 7, -1] and at.tolist() == [11, 21, 30, 40, 50]


def test_kmeans_without_umap_keeps_no_rows_and_assigns_the_nearest_centroid():
    x, _ = _blobs()
    stage = Stage("l2", {"method": "pca", "dim": 5}, KMeans(seed=0, gpu=False))
    labels, dists, _ = stage.fit(x, 5)
    assert stage.near is None and not any(k.startswith("neighbour_") for k in stage.state())
    again = _again(stage).assign(x)
    assert np.array_equal(again[0], labels) and np.allclose(again[1], dists, atol=1e-4)


def test_hdbscan_rows_come_back_new_rows_join_their_blob_noise_stays_possible():
    x, y = _blobs(d=6)
    rng = np.random.default_rng(0)
    out = rng.normal(size=(10, 6))
    x = np.r_[x, 200 * out / np.linalg.norm(out, axis=1, keepdims=True)].astype(np.float32)   # alone, far apart
    stage = Stage("none", {"method": "none"}, HDBSCAN(min_cluster_size=15, gpu=False))
    labels_out = stage.fit(np.r_[x[:400], x[500:]], None)[0]   # the blobs' first 400 rows and the outliers: noise
    assert (labels_out[400:] == -1).all()
    again = _again(stage)
    assert again.near.rows.dtype == np.float16 and again.near.z is None
    assert np.array_equal(again.assign(np.r_[x[:400], x[500:]])[0], labels_out)   # fitted rows, members and noise, keep their label
    new, _, _ = again.assign(x[400:500])     # rows of the blobs not fitted: the cluster of their blob
    assert _with_their_blob(new, y[400:500], labels_out[:400], y[:400]) >= 0.95
    near_noise = again.assign(x[500:] * 1.001)[0]   # next to a fitted noise row (and far from every cluster): noise
    assert (near_noise == -1).all()


def test_rows_kept_as_float32_where_float16_cannot_hold_them():
    x, _ = _blobs(d=4)
    kept = Neighbours.fitted(x * 1e5, np.zeros(len(x), np.int64))
    assert kept.rows.dtype == np.float32 and Neighbours.fitted(x, np.zeros(len(x))).rows.dtype == np.float16


@pytest.mark.slow
@pytest.mark.parametrize("method", [KMeans(seed=0, gpu=False, nredo=3), HDBSCAN(min_cluster_size=20, gpu=False)])
def test_after_umap_fitted_rows_come_back_and_new_rows_land_with_their_blob(method):
    x, y = _blobs()
    stage = Stage("l2", {"method": "umap", "dim": 4, "n_neighbors": 15}, method)
    labels, dists, z = stage.fit(x[:400].copy(), None if method.noise else 5)
    again = _again(stage)
    assert again.near.z.shape == (400, 4)
    got, d2, z2 = again.assign(x[:400])
    assert np.array_equal(got, labels) and np.allclose(d2, dists, atol=1e-4) and np.allclose(z2, z)
    new = again.assign(x[400:])[0]
    assert _with_their_blob(new, y[400:], labels, y[:400]) >= 0.95
    np.testing.assert_array_equal(stage.assign(x[400:])[0], new)   # one rule: the fitting run places rows the same
    old = {k: v for k, v in stage.state().items() if not k.startswith("neighbour_")}   # an older fit: no rows
    with pytest.raises(ConfigError, match="fit them again"):
        Stage.from_state(old, gpu=False).assign(x[:10])


@pytest.mark.slow
def test_api_clusters_read_back_after_umap_and_hdbscan_assign_their_rows_again():
    import audioclust

    x, _ = _blobs(300)
    for clusters in (audioclust.cluster(x, k=5, reduce="umap", gpu=False),
                     audioclust.cluster(x, method="hdbscan", reduce="umap", gpu=False)):
        again = audioclust.Clusters.from_state(dict(np.load(io.BytesIO(npz_bytes(clusters.state())), allow_pickle=False)),
                                               gpu=False)
        labels, dists = again.assign(x)
        assert np.array_equal(labels, clusters.labels_) and np.allclose(dists, clusters.distances_, atol=1e-4)
