import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from audioclust.cluster.ksearch import search_k
from audioclust.errors import ConfigError
from audioclust.report.plots import plot_search


def test_search_finds_the_number_of_blobs_and_plots(tmp_path):
    x, _ = make_blobs(600, n_features=8, centers=6, cluster_std=0.6, random_state=3)
    result = search_k(x.astype(np.float32), 2, 10, nredo=3)
    assert result["best_k"] == 6 and [r["k"] for r in result["scores"]] == list(range(2, 11))
    by_k = {r["k"]: r for r in result["scores"]}
    assert by_k[6]["davies_bouldin"] == min(r["davies_bouldin"] for r in result["scores"])  # agrees
    json.dumps(result)
    plot_search(result, tmp_path / "k.png")
    assert (tmp_path / "k.png").read_bytes()[:4] == b"\x89PNG"


def test_search_range_is_checked():
    x = np.random.default_rng(0).random((20, 3)).astype(np.float32)
    with pytest.raises(ConfigError, match="kmeans.search"):
        search_k(x, 1, 5)
    with pytest.raises(ConfigError):
        search_k(x, 25, 30)
