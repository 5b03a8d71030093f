"""Views of a spectrogram batch for invariance training: pitch-like band shifts, time shifts, masks, noise.

All operate on normalised log spectrograms (B, C, F, T) on the batch's device.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _shift(x: torch.Tensor, shifts: torch.Tensor, dim: int) -> torch.Tensor:
    """Shift each sample along `dim` by its own integer amount, repeating the edge (no wrap-around)."""
    n = x.shape[dim]
    idx = (torch.arange(n, device=x.device)[None, :] - shifts[:, None]).clamp(0, n - 1)  # B, n
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[dim] = n
    return torch.gather(x, dim, idx.view(shape).expand_as(x))


def _mask(x: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    if width < 1:
        return x
    b, n = x.shape[0], x.shape[dim]
    w = torch.randint(0, width + 1, (b, 1), device=x.device)
    start = (torch.rand(b, 1, device=x.device) * (n - w + 1)).long()
    pos = torch.arange(n, device=x.device)[None]
    keep = ~((pos >= start) & (pos < start + w))
    shape = [b] + [1] * (x.dim() - 1)
    shape[dim] = n
    return x * keep.view(shape)


def _uniform(b: int, width: float, device) -> torch.Tensor:
    return (torch.rand(b, device=device) * 2 - 1) * width


def warp(x: torch.Tensor, freq: float, time: float) -> torch.Tensor:
    """Resample each sample's (F, T) plane: the frequency axis scaled by a factor in [1 - freq, 1 + freq]
    about the lowest band (a vocal-tract-length / pitch-like change of the voice), the time axis scaled and
    shifted by up to `time` of its length and bent by a random smooth curve (another speaking rhythm).
    Edges repeat; (B, C, F, T) in and out."""
    b, _, f, t = x.shape
    scale = 1 + _uniform(b, freq, x.device)
    fy = (torch.linspace(-1, 1, f, device=x.device)[None] + 1) / scale[:, None] - 1            # B, F
    tx = torch.linspace(-1, 1, t, device=x.device)[None] * (1 + _uniform(b, time, x.device))[:, None]
    bend = torch.sin(torch.linspace(0, torch.pi, t, device=x.device))[None] * _uniform(b, time / 2, x.device)[:, None]
    tx = tx + _uniform(b, time, x.device)[:, None] + bend                                       # B, T
    grid = torch.stack([tx[:, None, :].expand(b, f, t), fy[:, :, None].expand(b, f, t)], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


class SpecAugment(nn.Module):
    """Random views of a spectrogram batch. `freq_warp`/`time_warp` (fractions) change the voice and the
    rhythm, `freq_shift` (bands)/`time_shift` (fraction) move the content, masks hide parts, noise is added."""

    def __init__(self, freq_shift: int = 3, time_shift: float = 0.1, freq_mask: int = 8, time_mask: int = 8,
                 noise: float = 0.1, freq_warp: float = 0.0, time_warp: float = 0.0):
        super().__init__()
        self.freq_shift, self.time_shift, self.noise = int(freq_shift), float(time_shift), float(noise)
        self.freq_mask, self.time_mask = int(freq_mask), int(time_mask)
        self.freq_warp, self.time_warp = float(freq_warp), float(time_warp)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        b, _, f, t = spec.shape
        x = warp(spec, self.freq_warp, self.time_warp) if self.freq_warp or self.time_warp else spec
        if self.freq_shift:
            x = _shift(x, torch.randint(-self.freq_shift, self.freq_shift + 1, (b,), device=x.device), 2)
        max_t = int(self.time_shift * t)
        if max_t:
            x = _shift(x, torch.randint(-max_t, max_t + 1, (b,), device=x.device), 3)
        x = _mask(_mask(x, self.freq_mask, 2), self.time_mask, 3)
        return x + self.noise * torch.randn_like(x) if self.noise else x


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's contrastive loss: each clip's two views attract, all other clips in the batch repel."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)
