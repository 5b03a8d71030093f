"""Voice groups: embeddings standardised within groups of clips that share a long-term spectrum.

Whoever speaks (or whichever microphone, room, recorder) colours every clip of theirs the same way, and that
colour can dominate an embedding: clips of one speaker end up closer to each other than clips of one word.
Speech recognisers remove it with per-speaker mean and variance normalisation; here the speakers are not
known, so they are estimated: each clip's long-term average spectrum (LTAS: the mean log power spectrum of its
loud frames, a classic speaker/channel feature; audioclust.frontend.long_term_spectrum) is clustered into `groups` groups with FAISS k-means, and the
embeddings are standardised per group before the usual preprocessing (audioclust/cluster/pipeline.py).
"""
from __future__ import annotations

import numpy as np

from audioclust.cluster.kmeans import label_sums


def group_stats(x, g: np.ndarray, groups: int, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Each group's mean and spread of x (mean 0 for an empty group, spread 1 where it has fewer than two rows),
    from float64 sums of the rows and their squares in one pass over x (which may be memory-mapped)."""
    sums, squares = (np.zeros((groups, x.shape[1]), np.float64) for _ in range(2))
    for s in range(0, len(x), batch):
        rows, labels = np.asarray(x[s:s + batch], np.float64), g[s:s + batch]   # one batch in float64
        sums += label_sums(rows, labels, groups)
        squares += label_sums(rows * rows, labels, groups)
    n = np.bincount(g, minlength=groups)[:, None]
    means = sums / np.maximum(n, 1)
    spread = np.sqrt(np.maximum(squares / np.maximum(n, 1) - means ** 2, 0)) + 1e-6
    return means.astype(np.float32), np.where(n > 1, spread, 1.0).astype(np.float32)


def group_means(x, g: np.ndarray, groups: int) -> np.ndarray:
    """(groups, d): the mean row of x in each group (zeros for an empty group)."""
    return group_stats(x, g, groups)[0]


def standardise(x, g: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """x standardised by the statistics of each row's group."""
    return ((np.asarray(x, np.float32) - means[g]) / scales[g]).astype(np.float32)
