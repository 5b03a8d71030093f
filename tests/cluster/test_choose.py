"""Label-free choice of an encoder: clustering stability (audioclust/cluster/choose.py)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster.choose import stability
from audioclust.cluster.methods import KMeans
from audioclust.cluster.pipeline import Stage
from audioclust.errors import ConfigError


def _fit(k):
    stage = Stage("l2", {"method": "none"}, KMeans(nredo=5, init="kmeans++", gpu=False))   # as conf/cluster.yaml
    return lambda rows, seed: stage.fresh(seed).fit(rows, k)[0]


def test_clusters_that_exist_are_stable_and_forced_ones_are_not():
    blobs, _ = make_blobs(600, n_features=8, centers=5, cluster_std=0.5, random_state=0)
    uniform = np.random.default_rng(0).uniform(-1, 1, (600, 8))
    found = stability(blobs, _fit(5), pairs=3)
    forced = stability(uniform, _fit(5), pairs=3)
    assert found.score > 0.95 and len(found.pairs) == 3
    assert forced.score < found.score - 0.2


def test_the_number_of_clusters_matters_not_only_the_embedding():
    blobs, _ = make_blobs(600, n_features=8, centers=4, cluster_std=0.4, random_state=1)
    assert stability(blobs, _fit(4)).score > stability(blobs, _fit(7)).score


def test_pairs_differ_in_rows_and_seeds():
    seen = []

    def fit(rows, seed):
        seen.append((len(rows), seed, rows[:, 0].sum()))
        return np.zeros(len(rows), int)

    x = np.arange(200, dtype=float)[:, None]
    stability(x, fit, pairs=2, fraction=0.5, seed=3)
    assert [s[0] for s in seen] == [100] * 4 and [s[1] for s in seen] == [3, 4, 5, 6]
    assert len({s[2] for s in seen}) == 4   # four different subsamples


@pytest.mark.parametrize("kw", [{"pairs": 0}, {"fraction": 0}, {"fraction": 1.5}])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ConfigError):
        stability(np.zeros((10, 2)), lambda r, s: np.zeros(len(r)), **kw)
