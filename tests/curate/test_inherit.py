"""A later fit of the same folder inherits a curated fit's names by the majority of each cluster's named clips."""
from audioclust.curate.inherit import inherit_names


def test_majority_of_named_clips_names_a_cluster_and_a_split_vote_names_none():
    old_paths = ["a", "b", "c", "d", "e", "f"]
    old_names = ["owl", "owl", "wind", "", "rain", "wind"]
    got = inherit_names(["a", "b", "c", "d", "e", "f", "g"], [0.0] * 7, [0, 0, 0, 1, 2, 2, 1],
                        old_paths, [0.0004] * 6, old_names)   # offsets matched to the ms
    assert got[0].name == "owl" and (got[0].votes, got[0].named) == (2, 3)
    assert 1 not in got                 # its clips had no name (d) or were not in the old fit (g)
    assert 2 not in got                 # rain 1, wind 1: no majority
