"""Clustering inside the network (DEC / IDEC): Student-t soft assignments to learnt centroids, trained
against a sharpened target distribution, next to the reconstruction loss.

Centroids start from k-means on the embeddings of the training set at `start_epoch`; targets are refreshed at
the start of every later epoch from the whole training set. Under DDP each rank embeds its share of the set and
the shares are gathered, k-means runs on rank 0 and its centroids are broadcast: every rank holds the same
centroids and targets. Before `start_epoch` the centroids join the loss with weight 0, so that DDP gets the
gradient it expects for every parameter without searching the graph for unused ones.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audioclust.errors import ConfigError


class DECHead(nn.Module):
    def __init__(self, n_clusters: int, dim: int, alpha: float = 1.0, weight: float = 0.1, start_epoch: int = 5,
                 seed: int = 0):
        super().__init__()
        if n_clusters is None or n_clusters < 2:
            raise ConfigError(f"model.dec.n_clusters must be >= 2, got {n_clusters}")
        self.alpha, self.weight, self.start_epoch, self.seed = float(alpha), float(weight), int(start_epoch), seed
        self.centroids = nn.Parameter(torch.zeros(int(n_clusters), dim))
        self.register_buffer("initialised", torch.tensor(False))
        self.targets: torch.Tensor | None = None  # (n_samples, k), indexed by sample id; rebuilt each epoch

    def soft_assign(self, z: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(z, self.centroids).pow(2)
        q = (1 + d2 / self.alpha).pow(-(self.alpha + 1) / 2)
        return q / q.sum(1, keepdim=True)

    @staticmethod
    def sharpen(q: torch.Tensor) -> torch.Tensor:
        """DEC's target: square the assignments, divide by cluster frequency, renormalise."""
        w = q.pow(2) / q.sum(0, keepdim=True)
        return w / w.sum(1, keepdim=True)

    def active(self) -> bool:
        return bool(self.initialised) and self.targets is not None

    def loss(self, z: torch.Tensor, sample_ids: torch.Tensor) -> torch.Tensor:
        q = self.soft_assign(z)
        p = self.targets[sample_ids.cpu()].to(q.device)
        return F.kl_div(q.clamp_min(1e-12).log(), p, reduction="batchmean")

    @torch.no_grad()
    def kmeans(self, z: torch.Tensor) -> torch.Tensor:
        """Initial centroids: k-means (seeded) on the embeddings, (k, dim) on the CPU."""
        from sklearn.cluster import KMeans  # (the model stage sits below FAISS's cluster stage)

        km = KMeans(self.centroids.shape[0], n_init=3, max_iter=50, random_state=self.seed)
        return torch.from_numpy(km.fit(z.cpu().numpy().astype(np.float32)).cluster_centers_.astype(np.float32))

    @torch.no_grad()
    def refresh(self, z: torch.Tensor, sample_ids: torch.Tensor, n_samples: int,
                centroids: torch.Tensor | None = None) -> None:
        """Initialise the centroids (first call: `centroids`, else k-means on `z`), then rebuild the target
        distribution."""
        if not bool(self.initialised):
            self.centroids.data.copy_(self.kmeans(z) if centroids is None else centroids)
            self.initialised.fill_(True)
        targets = torch.zeros(n_samples, self.centroids.shape[0])
        targets[sample_ids.cpu()] = self.sharpen(self.soft_assign(z.to(self.centroids.device))).cpu()
        self.targets = targets
