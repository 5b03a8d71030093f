"""Choosing an encoder without labels: how stable each candidate's clusters are.

k clusters that exist in an embedding come back when the clustering is redone from scratch on another random part
of the clips (another sample, another seed of the reducer and of k-means); k clusters forced onto an embedding
whose structure is something else (6 speakers cut into 10 groups, a texture cut anywhere) do not. The score of a
candidate is the mean adjusted Rand index between clusterings of overlapping random subsamples, compared on the
clips both contain (Ben-Hur, Elisseeff & Guyon, "A stability based method for discovering structure in clustered
data", PSB 2002; Lange et al., Neural Computation 2004). Measured against labels in BENCHMARKS.md, section
"Choosing an encoder without labels" (bench/choose_encoder.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from sklearn.metrics import adjusted_rand_score

from audioclust import checks
from audioclust.errors import ConfigError


class Stability(NamedTuple):
    score: float            # mean ARI over the pairs
    pairs: list[float]      # ARI of each pair


def stability(x: np.ndarray, fit_labels: Callable[[np.ndarray, int], np.ndarray], pairs: int = 3,
              fraction: float = 0.8, seed: int = 0) -> Stability:
    """Mean ARI between the clusterings of `pairs` pairs of random subsamples of x (`fraction` of the rows each),
    on the rows both hold. fit_labels(rows, seed) clusters the rows from scratch (preprocess, reduce, k-means,
    each seeded by `seed`) and returns one label per row."""
    checks.number("pairs", pairs, integer=True)
    if not 0 < checks.number("fraction", fraction) <= 1:
        raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
    n = len(x)
    m = max(2, int(round(fraction * n)))
    rng = np.random.default_rng(seed)
    out = []
    for p in range(pairs):
        a, b = (np.sort(rng.choice(n, m, replace=False)) for _ in range(2))
        la = np.full(n, -2)
        lb = np.full(n, -2)
        la[a] = fit_labels(np.asarray(x[a]), seed + 2 * p)
        lb[b] = fit_labels(np.asarray(x[b]), seed + 2 * p + 1)
        both = (la != -2) & (lb != -2)
        out.append(float(adjusted_rand_score(la[both], lb[both])))
    return Stability(float(np.mean(out)), out)
