"""Voice groups: each clip's long-term spectrum, and embeddings standardised within groups of clips.

Whoever speaks (or whichever microphone, room, recorder) colours every clip of theirs the same way, and that
colour can dominate an embedding: clips of one speaker end up closer to each other than clips of one word.
Speech recognisers remove it with per-speaker mean and variance normalisation; here the speakers are not
known, so they are estimated: each clip's long-term average spectrum (LTAS: the mean log power spectrum of its
loud frames, a classic speaker/channel feature) is clustered into `groups` groups with FAISS k-means, and the
embeddings are standardised per group before the usual preprocessing (audioclust/cluster/pipeline.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LTAS_BINS = 128     # the spectrum is pooled to this many linear-frequency bins, whatever the sample rate
LOUD_DB = 30.0      # frames within this many dB of the clip's loudest frame count (pauses carry no voice)


def long_term_spectrum(wave: torch.Tensor, lengths: torch.Tensor | None, sr: int) -> torch.Tensor:
    """(B, samples) -> (B, LTAS_BINS): mean log power spectrum over each clip's loud frames, 64 ms windows."""
    n_fft = 2 ** max(5, round(math.log2(0.064 * sr)))
    hop = n_fft // 4
    x = wave.float()
    if x.shape[-1] < n_fft:
        x = F.pad(x, (0, n_fft - x.shape[-1]))
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, center=False, return_complex=True)
    logp = torch.log(spec.real ** 2 + spec.imag ** 2 + 1e-10)                       # B, F, T
    t = logp.shape[-1]
    n = torch.full((x.shape[0],), x.shape[-1], device=x.device) if lengths is None else lengths.to(x.device)
    frames = ((n - n_fft) // hop + 1).clamp(1, t)
    valid = torch.arange(t, device=x.device)[None] < frames[:, None]                # B, T
    energy = logp.mean(1).masked_fill(~valid, -torch.inf)   # mean log power: broadband level, not one loud hum
    loud = valid & (energy >= energy.max(1, keepdim=True).values - LOUD_DB * math.log(10) / 10)
    w = loud.to(logp.dtype)[:, None]                                                 # B, 1, T
    ltas = (logp * w).sum(-1) / w.sum(-1)                                            # B, F
    return F.adaptive_avg_pool1d(ltas[:, None], min(LTAS_BINS, ltas.shape[-1]))[:, 0]


def group_stats(x, g: np.ndarray, groups: int, batch: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Each group's mean and spread of x (mean 0 for an empty group, spread 1 where it has fewer than two rows),
    from float64 sums of the rows and their squares in one pass over x (which may be memory-mapped)."""
    from audioclust.cluster.kmeans import label_sums

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
