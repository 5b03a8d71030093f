"""Several pretrained encoders side by side (encoder=mix): one embedding per clip, the members' concatenated.

    audioclust-cluster encoder=mix data.root=/my/clips kmeans.k=10 reduce.method=umap     # aisfx + birdnet
    audioclust-cluster encoder=mix 'encoder.members=[aisfx,birdnet,speaker]' data.root=...

A run (audioclust-cluster, audioclust.embed) embeds each member as that encoder alone, at its own rate and through
its own store (embed/inference.py embed_members), and puts the members' rows side by side; `embed()` here takes
waves at the highest member rate and resamples them (soxr) for the others, for a direct call on waves.
`dim_weights`: after the per-dimension z-score (preprocess), each member's dimensions weigh 1/sqrt(its dimension
count), so each member brings the same total variance whatever its size (BirdNET's 1024 dims would otherwise
outweigh aisfx's 512 two to one). Measured in BENCHMARKS.md, "Recipes x data sets".
"""
from __future__ import annotations

import numpy as np
import soxr
import torch

from audioclust.embed.encoders.base import Encoder, valid_lengths


def side_by_side(dims) -> tuple[np.ndarray, np.ndarray]:
    """(weights, groups) of members of `dims` dimensions side by side: each column's factor after the z-score
    (1/sqrt(its member's dimensions)) and its member's index."""
    dims = [int(d) for d in dims]
    return (np.concatenate([np.full(d, 1 / np.sqrt(d), np.float32) for d in dims]),
            np.repeat(np.arange(len(dims)), dims))


class MixEncoder(Encoder):
    pretrained = False   # a composite of the pretrained encoders named by `members` (their extras)
    min_seconds = 0.0   # each member pads what it needs
    cpu_input = True    # resampled on the CPU (soxr); each member gets its waves where it reads them

    def __init__(self, members: dict[str, Encoder]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("encoder=mix needs at least two members")
        self.names = list(members)
        self.members = torch.nn.ModuleList(members.values())
        self.sr = max(int(m.sr) for m in self.members)
        self.embedding_dim = sum(int(m.embedding_dim) for m in self.members)
        self.licence = "; ".join(f"{n}: {m.licence}" for n, m in zip(self.names, self.members))
        self.dim_weights, self.dim_groups = side_by_side(m.embedding_dim for m in self.members)   # each column's member

    def identity(self) -> dict:
        return {**super().identity(), "members": {n: m.identity() for n, m in zip(self.names, self.members)}}

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) at self.sr -> (B, sum of the members' dims)."""
        n = valid_lengths(wave, lengths)
        clips = [row[:k].float().cpu().numpy() for row, k in zip(wave, n)]
        out = []
        for m in self.members:
            if int(m.sr) == self.sr:
                w, ln = wave, lengths
            else:
                parts = [soxr.resample(c, self.sr, int(m.sr)) if len(c) else c for c in clips]
                ln = torch.tensor([len(p) for p in parts])
                w = torch.zeros(len(parts), max(1, int(ln.max())) if len(parts) else 1)
                for i, p in enumerate(parts):
                    w[i, :len(p)] = torch.from_numpy(np.ascontiguousarray(p, np.float32))
            out.append(m.embed(w.to(m.input_device), ln).float().cpu())
        return torch.cat(out, 1)
