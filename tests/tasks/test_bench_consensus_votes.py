"""bench/consensus_votes.py's label-free signals of each member: a member whose runs agree with themselves and with
the consensus scores high, one of random clusterings low, and the rule "the highest silhouette's member and those
agreeing with it" keeps the members that repeat the top one's clusters."""
from __future__ import annotations

import sys

import numpy as np
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import consensus_votes as bench  # noqa: E402

from audioclust.cluster.consensus import Members  # noqa: E402


def test_signals_and_rules_tell_members_that_hear_the_groups_from_noise():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 25)
    runs, owner = [], []
    for m in range(4):   # members 0 and 1: the groups (1 with a few rows moved), 2 and 3: noise
        for _ in range(5):
            if m < 2:
                labels = truth.copy()
                labels[rng.choice(100, 3 if m else 0, replace=False)] = rng.integers(0, 4, 3 if m else 0)
            else:
                labels = rng.integers(0, 4, 100)
            runs.append(labels)
            owner.append(m)
    members = Members(np.stack(runs, 1), np.array(owner), [], [0.6, 0.5, 0.55, 0.1])
    f = bench.features(truth, members)
    assert f["stab"][0] == 1.0 and f["stab"][1] > 0.8 > 0.2 > f["stab"][2]
    assert f["tc"][0] == 1.0 and f["tc"][3] < 0.2 and f["agree"][0] > f["agree"][2]
    assert list(f["near"]) == [1.0, 1.0, 0.0, 0.0]
    alone = bench.RULES["the member of the highest silhouette alone"](f)
    assert list(alone) == [1.0, 0.0, 0.0, 0.0]
    default = bench.RULES["silhouette, members under 0.85 x the best's dropped (the default)"](f)
    assert list(default > 0) == [True, False, True, False]   # a noisy member as distinct by silhouette is kept
