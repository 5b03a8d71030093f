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


def group_means(x, g: np.ndarray, groups: int, batch: int = 65536) -> np.ndarray:
    """(groups, d): the mean row of x in each group (zeros for an empty group). x may be memory-mapped: it is
    read in batches, summed in float64 through a float32 one-hot (no full copy)."""
    import scipy.sparse as sp

    sums = np.zeros((groups, x.shape[1]), np.float64)
    for s in range(0, len(x), batch):
        rows, gs = np.asarray(x[s:s + batch], np.float32), g[s:s + batch]
        sums += sp.csr_matrix((np.ones(len(gs), np.float32), (gs, np.arange(len(gs)))), shape=(groups, len(gs))) @ rows
    return (sums / np.maximum(np.bincount(g, minlength=groups), 1)[:, None]).astype(np.float32)


def group_stats(x, g: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Each group's mean and spread of x (spread 1 where a group has fewer than two rows)."""
    means = group_means(x, g, groups)
    scales = np.ones_like(means)
    for k in range(groups):
        rows = np.asarray(x[g == k], dtype=np.float32)
        if len(rows) > 1:
            scales[k] = rows.std(0) + 1e-6
    return means, scales


def standardise(x, g: np.ndarray, means: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """x standardised by the statistics of each row's group."""
    return ((np.asarray(x, np.float32) - means[g]) / scales[g]).astype(np.float32)
