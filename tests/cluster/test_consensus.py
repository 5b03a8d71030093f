"""cluster.method=consensus (audioclust/cluster/consensus.py): each member's columns clustered on their own, the
clusterings combined by co-association and average linkage; new rows placed by their nearest fitted rows."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

import audioclust
from audioclust.cluster.consensus import average_linkage, coassociation
from audioclust.errors import ConfigError


def complementary(n_per: int = 40, seed: int = 0):
    """Four classes and three members that each see only three of them: member A cannot tell classes 0 and 1 apart,
    B cannot tell 2 and 3 apart, C 1 and 2. Rows: A's 8 columns, then B's, then C's."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n_per)
    parts = [rng.normal(size=(len(y), 8)) * 0.3 + 6 * np.eye(8)[np.array(centre)[y]]
             for centre in ([0, 0, 1, 2], [0, 1, 2, 2], [0, 1, 1, 2])]
    return np.concatenate(parts, 1).astype(np.float32), np.repeat(np.arange(3), 8), y


def test_coassociation_is_the_fraction_of_clusterings_that_agree():
    labelings = np.array([[0, 0], [0, 1], [1, 1]])
    c = coassociation(labelings)
    np.testing.assert_allclose(c, [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]])
    assert coassociation(np.array([[-1], [-1]]))[0, 1] == 0   # noise is with no row
    untied = coassociation(np.array([[0, 0, 0], [0, 0, 1], [1, 1, 1]]))   # rows 0 and 1 together 2 of 3 times
    assert average_linkage(untied, 2).tolist() == [0, 0, 1]
    np.testing.assert_allclose(coassociation(labelings, [3, 1])[0, 1], 0.75)   # weighted votes


def test_members_that_each_miss_a_class_together_find_all_four_classes():
    x, groups, y = complementary()
    alone = [nmi(y, audioclust.cluster(x[:, groups == g], k=4, reduce="none").labels_) for g in range(3)]
    every = audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups)
    assert max(alone) < 0.9 and nmi(y, every.labels_) > 0.99
    assert every.centroids_.shape == (4, 24)   # each member's reduced features (here its preprocessed columns) side by side
    assert nmi(y, audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups, seed=1).labels_) > 0.99


def test_with_umap_members_and_assignment_of_new_rows():
    x, groups, y = complementary(n_per=60)
    fit = audioclust.cluster(x[::2], method="consensus", k=4, groups=groups, runs=3)   # reduce: the default, umap
    assert nmi(y[::2], fit.labels_) > 0.95
    again = audioclust.Clusters.from_state(fit.state())
    assert (again.assign(x[::2])[0] == fit.labels_).all()   # the fit's own rows keep their clusters
    assert nmi(y[1::2], again.assign(x[1::2])[0]) > 0.95   # new rows join their nearest fitted rows' clusters


def test_without_groups_the_one_embedding_is_clustered_runs_times():
    x, _, y = complementary()
    got = audioclust.cluster(x, method="consensus", k=4, reduce="none", runs=4)
    assert nmi(y, got.labels_) > 0.99


def test_limits_are_one_line_errors():
    x, groups, _ = complementary(n_per=10)
    with pytest.raises(ConfigError, match=r"^cluster.method=consensus holds an n x n co-association: 40 rows is more than consensus.max_rows=30"):
        audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups, max_rows=30)
    with pytest.raises(ConfigError, match="column groups for embeddings of 24 columns"):
        audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups[:8])
    with pytest.raises(ConfigError, match="consensus.runs"):
        audioclust.cluster(x, method="consensus", k=4, runs=0)


def test_a_member_whose_clusters_are_far_less_distinct_is_dropped():
    """keep: a member whose silhouette is under keep x the best member's takes no part (pure noise beside four
    blobs); keep=0 keeps every member, and the noise then splits the blobs' votes."""
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 40)
    blobs = rng.normal(size=(len(y), 8)) * 0.3 + 6 * np.eye(8)[y]
    x = np.concatenate([blobs, rng.normal(size=(len(y), 8))], 1).astype(np.float32)
    groups = np.r_[np.zeros(8), np.ones(8)].astype(np.int64)
    fit = audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups)
    method = fit.clusterer.content.method
    assert [d["kept"] for d in method.members_] == [True, False] and method.members_[0]["silhouette"] > 2 * method.members_[1]["silhouette"]
    assert nmi(y, fit.labels_) > 0.99 and fit.centroids_.shape == (4, 8)   # only the kept member's reduction
    # new rows are placed by the kept member's columns alone: the dropped member's, however loud, are not heard
    new = np.concatenate([blobs[::3], 50 * rng.normal(size=(len(blobs[::3]), 8))], 1).astype(np.float32)
    assert (fit.assign(new)[0] == fit.labels_[::3]).all()
    every = audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups, keep=0.0)
    assert all(d["kept"] for d in every.clusterer.content.method.members_) and every.centroids_.shape == (4, 16)
    with pytest.raises(ConfigError, match="consensus.keep must be between 0 and 1"):
        audioclust.cluster(x, method="consensus", k=4, reduce="none", groups=groups, keep=1.5)


def test_members_are_clustered_with_the_runs_kmeans_options():
    """consensus.kmeans is the run's kmeans.* (one copy): cluster.py's overrides reach the members, the API's default
    is the shipped kmeans.yaml's, and a wrong option is one line before any member is clustered."""
    from common_utils import ROOT
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from audioclust.api import clusterer_of
    from audioclust.tasks.builders import build_clusterer

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("cluster", overrides=["cluster.method=consensus", "kmeans.k=4", "kmeans.niter=7", "kmeans.refine=0"])
    def options(node):
        return {k: v for k, v in OmegaConf.to_container(node).items() if k not in ("k", "search", "gpu", "_target_")}

    shipped = options(OmegaConf.load(ROOT / "conf" / "cluster" / "method" / "kmeans.yaml"))
    assert build_clusterer(cfg).content.method.options["kmeans"] == {**shipped, "niter": 7, "refine": 0}
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        part = compose("cluster", overrides=["cluster.method=consensus", "kmeans.k=4", "consensus.kmeans={nredo:2}"])
    assert build_clusterer(part).content.method.options["kmeans"] == {**shipped, "nredo": 2}
    assert clusterer_of("consensus", 4, None, "l2", 0, "auto", {}).content.method.options["kmeans"] == shipped
    assert clusterer_of("consensus", 4, None, "l2", 0, "auto", {"kmeans": {"nredo": 2}}).content.method.options["kmeans"] \
        == {**shipped, "nredo": 2}
    x, groups, _ = complementary()
    with pytest.raises(ConfigError, match="kmeans.nope is not a k-means option"):
        audioclust.cluster(x, method="consensus", k=4, groups=groups, kmeans={"nope": 1})
