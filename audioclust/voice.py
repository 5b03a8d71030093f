"""Voice groups: standardise embeddings within groups of clips that share a voice or a recording channel.

Whoever speaks (or whichever microphone, room, recorder) colours every clip of theirs the same way, and that
colour can dominate an embedding: clips of one speaker end up closer to each other than clips of one word.
Speech recognisers remove it with per-speaker mean and variance normalisation; here the speakers are not
known, so they are estimated: each clip's long-term average spectrum (LTAS: the mean log power spectrum of its
loud frames, a classic speaker/channel feature) is clustered into `groups` groups with FAISS k-means, and the
embeddings are standardised per group before the usual preprocessing. New audio joins its nearest group.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from audioclust.errors import ConfigError

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


class VoiceGroups:
    """groups=0: off. Otherwise fit() clusters the clips' LTAS into `groups` groups and learns each group's
    embedding mean and spread; __call__ standardises embeddings by their group (nearest LTAS centroid)."""

    def __init__(self, groups: int = 0, seed: int = 0, state: dict | None = None):
        if groups < 0:
            raise ConfigError(f"voice.groups must be >= 0 (0: off), got {groups}")
        self.groups, self.seed, self.s = int(groups), int(seed), dict(state or {})

    def fit(self, ltas: np.ndarray, x: np.ndarray, gpu="auto") -> "VoiceGroups":
        self._fit(ltas, x, gpu)
        return self

    def fit_transform(self, ltas: np.ndarray, x: np.ndarray, gpu="auto") -> np.ndarray:
        """fit() then __call__ on the same clips, finding each clip's group once."""
        if not self.groups:
            return x
        return self._standardise(x, self._fit(ltas, x, gpu))

    def _fit(self, ltas, x, gpu) -> np.ndarray | None:
        """Fits the groups and their statistics; returns each clip's group (None when off)."""
        if not self.groups:
            return None
        from audioclust.cluster.kmeans import Preprocess, fit_kmeans

        if self.groups > len(x):
            raise ConfigError(f"voice.groups={self.groups} is larger than the number of clips ({len(x)})")
        pre = Preprocess("l2").fit(ltas)   # z-scored LTAS at unit length, as the embeddings are clustered
        cents = fit_kmeans(pre(ltas), self.groups, niter=20, nredo=10, seed=self.seed, gpu=gpu, init="kmeans++")
        self.s = {"voice_ltas_mean": pre.mean.astype(np.float32), "voice_ltas_scale": pre.scale.astype(np.float32),
                  "voice_centroids": cents}
        g = self.group_of(ltas, gpu)
        means = np.zeros((self.groups, x.shape[1]), np.float32)
        scales = np.ones((self.groups, x.shape[1]), np.float32)
        for k in range(self.groups):
            rows = np.asarray(x[g == k], dtype=np.float32)
            if len(rows):
                means[k] = rows.mean(0)
            if len(rows) > 1:
                scales[k] = rows.std(0) + 1e-6
        self.s.update(voice_means=means, voice_scales=scales)
        return g

    def group_of(self, ltas: np.ndarray, gpu="auto") -> np.ndarray:
        from audioclust.cluster.kmeans import Preprocess, assign

        pre = Preprocess("l2", self.s["voice_ltas_mean"], self.s["voice_ltas_scale"])
        return assign(ltas, self.s["voice_centroids"], gpu, transform=pre)[0]

    def __call__(self, x: np.ndarray, ltas: np.ndarray | None, gpu="auto") -> np.ndarray:
        if not self.groups:
            return x
        if ltas is None:
            raise ConfigError("these clusters were fitted with voice.groups > 0 but the embeddings carry no "
                              "long-term spectrum (re-embed with this version of audioclust)")
        return self._standardise(x, self.group_of(ltas, gpu))

    def _standardise(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return ((x - self.s["voice_means"][g]) / self.s["voice_scales"][g]).astype(np.float32)

    def state(self) -> dict:
        return {"voice_groups": np.array(self.groups), **self.s}

    @classmethod
    def from_state(cls, state) -> "VoiceGroups":
        if "voice_groups" not in state or int(state["voice_groups"]) == 0:
            return cls(0)
        keys = ("voice_ltas_mean", "voice_ltas_scale", "voice_centroids", "voice_means", "voice_scales")
        return cls(int(state["voice_groups"]), state={k: np.asarray(state[k]) for k in keys})
