"""cluster.method=agglomerative (Ward, scikit-learn): blobs found, fitted rows assigned back, state in npz, the row
limit; end to end through cluster.py (fit, then mode=assign)."""
import io

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from audioclust.cluster.agglomerative import Agglomerative
from audioclust.cluster.methods import method_class
from audioclust.cluster.pipeline import Clusterer, Stage
from audioclust.errors import ConfigError


@pytest.fixture(scope="module")
def blobs():
    x, y = make_blobs(300, n_features=5, centers=4, cluster_std=0.6, center_box=(-15, 15), random_state=3)
    return x.astype(np.float32), y


def test_separates_blobs_and_assigns_the_fitted_rows_back(blobs):
    x, y = blobs
    m = Agglomerative(gpu=False).fit(x, 4)
    assert adjusted_rand_score(y, m.labels_) == 1.0
    assert m.centroids_.shape == (4, 5) and m.centroids_.dtype == np.float32
    for c in range(4):   # each centroid is its cluster's mean, each distance the row's to its own centroid
        np.testing.assert_allclose(m.centroids_[c], x[m.labels_ == c].mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.distances_, np.linalg.norm(x - m.centroids_[m.labels_], axis=1), rtol=1e-4, atol=1e-4)
    labels, dists = m.assign(x)
    assert np.array_equal(labels, m.labels_)
    np.testing.assert_allclose(dists, m.distances_, rtol=1e-3, atol=1e-3)


def test_state_round_trips_through_npz(blobs):
    x, _ = blobs
    clusterer = Clusterer(Stage("l2", {"method": "pca", "dim": 3}, Agglomerative(gpu=False)))
    fit = clusterer.fit(x, None, 4)
    buf = io.BytesIO()
    np.savez(buf, **clusterer.state())                      # as cluster.py writes preprocess.npz
    buf.seek(0)
    state = dict(np.load(buf, allow_pickle=False))
    assert str(state["cluster_method"]) == "agglomerative" and method_class("agglomerative") is Agglomerative
    back = Clusterer.from_state(state, gpu=False)
    assert isinstance(back.content.method, Agglomerative) and np.array_equal(back.centroids, fit[3])
    labels, dists, _ = back.assign(x, None)
    assert np.array_equal(labels, fit[0])
    np.testing.assert_allclose(dists, fit[1], rtol=1e-3, atol=1e-3)


def test_refuses_more_rows_than_its_limit_and_a_bad_k(blobs):
    x, _ = blobs
    with pytest.raises(ConfigError, match=r"300 rows is more than agglomerative.max_rows=100; use cluster.method=kmeans"):
        Agglomerative(max_rows=100).fit(x, 4)
    with pytest.raises(ConfigError, match="kmeans.k=301 must be between 1 and the number of clips"):
        Agglomerative().fit(x, 301)
    with pytest.raises(ConfigError, match="agglomerative.max_rows"):
        Agglomerative(max_rows=0)


@pytest.mark.slow
def test_cluster_py_fits_then_assigns(tmp_path):
    """train.py (tiny run) -> cluster.py cluster.method=agglomerative -> mode=assign: every clip back in its cluster."""
    import csv

    from common_utils import run_script

    run, fit, again = tmp_path / "run", tmp_path / "fit", tmp_path / "assign"
    p = run_script("train.py", "debug=default", "logger=none", f"paths.cache_dir={tmp_path}/cache",
                   "data.synthetic.n_per_class=3", "data.max_files=null", "trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    quiet = ["report.plots=false", "report.explorer=false", "wandb.enabled=false", "threads=1"]
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={fit}", "cluster.method=agglomerative", "kmeans.k=8",
                   "reduce.method=pca", *quiet)
    assert p.returncode == 0, p.stderr[-3000:]
    assert str(np.load(fit / "preprocess.npz", allow_pickle=False)["cluster_method"]) == "agglomerative"
    assert np.load(fit / "centroids.npy").shape[0] == 8
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"clusters_dir={fit}", f"hydra.run.dir={again}", *quiet)
    assert p.returncode == 0, p.stderr[-3000:]

    def rows(d):
        with open(d / "assignments.csv", newline="") as f:
            return {(r["path"], r["offset"]): int(r["cluster"]) for r in csv.DictReader(f)}

    fitted, assigned = rows(fit), rows(again)
    assert len(fitted) == 60 and set(fitted.values()) == set(range(8))
    same = sum(assigned[key] == c for key, c in fitted.items())
    assert same >= 0.9 * len(fitted)   # Ward's clusters need not be nearest-mean ones: a few rows may move
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={tmp_path}/big", "cluster.method=agglomerative",
                   "kmeans.k=8", "agglomerative.max_rows=10", *quiet)
    assert p.returncode != 0 and "use cluster.method=kmeans" in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]
