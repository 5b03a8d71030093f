"""A curation's operations on a fit's clusters (plain arrays), and the state mode=assign reads after them."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster.methods import KMeans
from audioclust.cluster.pipeline import Stage
from audioclust.curate.apply import apply_operations, curated_stage


def test_each_operation_in_order_with_names_and_a_line_per_change():
    c = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
    z = np.r_[np.zeros((3, 2)), np.ones((2, 2)), [[5, 5], [5, 6], [9, 9]], np.full((2, 2), 20.0)].astype(np.float32)
    ops = [{"op": "rename", "cluster": 2, "name": "bird"}, {"op": "rename", "cluster": 0, "name": "wind"},
           {"op": "merge", "clusters": [0, 1]}, {"op": "split", "cluster": 2, "n": 2},
           {"op": "move", "clips": [0], "to": 3}, {"op": "noise", "clips": [1]}, {"op": "label", "clips": [4], "name": "rain"}]
    cur = apply_operations(ops, c, z)
    assert cur.clusters[[2, 3, 4]].tolist() == [0, 0, 0]          # 1 merged into 0
    assert cur.clusters[0] == 3 and cur.clusters[1] == -1        # moved; marked noise
    parts = cur.clusters[5:8]
    assert parts[0] == parts[1] != parts[2] and set(parts) == {2, 4}   # split: (5,5),(5,6) apart from (9,9); new id 4
    assert cur.names == {0: "wind", 2: "bird 1", 4: "bird 2"} or cur.names == {0: "wind", 2: "bird 2", 4: "bird 1"}
    assert cur.name_of(4) == "rain" and cur.name_of(2) == "wind" and cur.name_of(1) == "" and cur.to_split == {2: 2}
    assert len(cur.changes) == len(ops) and cur.changes[2] == "clusters 1 merged into 0 (2 clips moved)"
    assert (c == np.array([0, 0, 0, 1, 1, 2, 2, 2, 3, 3])).all()   # the fit's array is left alone


@pytest.mark.parametrize("op", [{"op": "rename", "cluster": 1, "name": "x"}, {"op": "merge", "clusters": [0, 1]},
                                {"op": "noise", "cluster": 7}, {"op": "split", "cluster": 0, "n": 9}])
def test_a_cluster_merged_away_or_too_small_is_an_error_naming_the_operation(op):
    c = np.array([0, 0, 1, 1])
    with pytest.raises(ValueError, match="operation 1"):
        apply_operations([{"op": "merge", "clusters": [0, 1]}, op], c, np.zeros((4, 2), np.float32))


def test_assign_follows_the_curated_clusters_and_noise():
    x, y = make_blobs(300, n_features=8, centers=3, cluster_std=0.5, random_state=0)
    x = x.astype(np.float32)
    stage = Stage("none", {}, KMeans(seed=0, gpu=False, nredo=3))
    labels = stage.fit(x.copy(), 3)[0]
    z = stage.assign(x)[2]
    kind_of = {int(c): int(np.bincount(y[labels == c]).argmax()) for c in range(3)}
    gone = next(c for c in range(3) if kind_of[c] == 2)
    cur = apply_operations([{"op": "noise", "cluster": gone}, {"op": "move", "clips": [0], "to": 1 if labels[0] != 1 else 0}],
                           labels, z)
    placed = curated_stage(stage, stage.pre(x), z, cur.clusters)
    again = placed.stage.assign(x)[0]
    np.testing.assert_array_equal(again, cur.clusters)          # every fitted row comes back to its curated cluster
    new = x[y == 2] + np.float32(0.05)                           # new rows of the kind marked noise: noise
    assert (placed.stage.assign(new)[0] == -1).mean() > 0.95
    assert (placed.distances[cur.clusters >= 0] >= 0).all() and placed.centroids.shape[0] == 3


def test_a_split_never_reuses_a_number_or_name_of_an_emptied_cluster():
    c = np.array([0, 0, 1, 1, 1, 1, 2, 3])
    z = np.r_[np.zeros((2, 2)), [[0, 0], [0, 1], [9, 9], [9, 8]], np.ones((2, 2))].astype(np.float32)
    ops = [{"op": "rename", "cluster": 3, "name": "wind"}, {"op": "move", "clips": [7], "to": 0},
           {"op": "split", "cluster": 1, "n": 2}]
    cur = apply_operations(ops, c, z)
    assert set(cur.clusters[2:6]) == {1, 4} and 3 not in cur.clusters   # 3 was emptied, not handed out again
    assert "wind" not in [cur.name_of(i) for i in range(8)]


def test_merges_of_a_kmeans_fit_keep_its_cells_and_no_rows():
    """Rename / merge / label of a k-means fit without UMAP: the centroids stay, each cell maps to its curated
    cluster (a few bytes), and new rows still go to the nearest centroid, then to that cell's cluster."""
    x, y = make_blobs(300, n_features=8, centers=3, cluster_std=0.5, random_state=0)
    x = x.astype(np.float32)
    stage = Stage("none", {}, KMeans(seed=0, gpu=False, nredo=3))
    labels = stage.fit(x.copy(), 3)[0]
    z = stage.assign(x)[2]
    ops = [{"op": "merge", "clusters": [2, 0]}, {"op": "rename", "cluster": 2, "name": "both"}]
    cur = apply_operations(ops, labels, z)
    placed = curated_stage(stage, stage.pre(x), z, cur.clusters, labels, ops)
    state = placed.stage.state()
    assert "neighbour_rows" not in state and state["cluster_relabel"].tolist() == [2, 1, 2]
    again = Stage.from_state({k: np.asarray(v) for k, v in state.items()}, gpu=False)
    np.testing.assert_array_equal(again.assign(x)[0], cur.clusters)
    assert set(again.assign(x + np.float32(0.01))[0].tolist()) == {1, 2}
