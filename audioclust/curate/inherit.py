"""Names carried from a curated fit to a later fit of the same folder: each new cluster takes the name most of its
clips had (by file and offset), when more than half of its clips that were named had that one."""
from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np


class Inherited(NamedTuple):
    name: str
    votes: int     # the cluster's clips that had this name
    named: int     # the cluster's clips that had any name


def inherit_names(paths, offsets, clusters, old_paths, old_offsets, old_names) -> dict[int, Inherited]:
    """cluster -> the name it inherits (majority of its named clips; clips matched by path and offset to the ms)."""
    old = {(p, round(float(o), 3)): n for p, o, n in zip(old_paths, old_offsets, old_names) if n}
    votes: dict[int, Counter] = {}
    for p, o, c in zip(paths, np.asarray(offsets, np.float64), np.asarray(clusters, np.int64)):
        name = old.get((p, round(float(o), 3)))
        if name and c >= 0:
            votes.setdefault(int(c), Counter())[name] += 1
    out = {}
    for c, count in sorted(votes.items()):
        name, n = count.most_common(1)[0]
        if 2 * n > sum(count.values()):
            out[c] = Inherited(name, n, sum(count.values()))
    return out
