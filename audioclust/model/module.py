"""LightningModule: waveforms -> spectrogram blocks (on device) -> block autoencoder; clip embeddings."""
from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler

from audioclust import checks
from audioclust.errors import ConfigError
from audioclust.frontend import Frontend, long_term_spectrum, signal_power
from audioclust.model.augment import SpecAugment, nt_xent
from audioclust.model.autoencoder import ConvAutoencoder
from audioclust.model.dec import DECHead

POOLINGS = ("concat", "mean", "max", "timestats")


class BlockAutoencoder(L.LightningModule):
    """Reconstruction of clean blocks from (optionally augmented) input blocks; with `contrastive.weight` > 0
    also SimCLR's loss between two augmented views of each clip, on a projection of the clip embedding."""

    def __init__(self, frontend: Frontend, net: ConvAutoencoder, optimizer, scheduler=None, pooling: str = "concat",
                 augment: dict | None = None, contrastive: dict | None = None, dec: dict | None = None):
        super().__init__()
        checks.choice("model.pooling", pooling, POOLINGS)
        checks.number("model.optimizer.lr", getattr(optimizer, "keywords", {}).get("lr", 1.0))
        self.frontend = frontend
        self.predict_voice = False  # cluster.py sets it when voice groups need each clip's long-term spectrum
        if (net.in_channels, net.block_size) != (frontend.channels, tuple(frontend.block_size)):
            raise ConfigError(f"model.net takes {net.in_channels}-channel {net.block_size} blocks but the front end "
                              f"makes {frontend.channels}-channel {tuple(frontend.block_size)} blocks")
        self.net = net
        self.optimizer_factory, self.scheduler_factory, self.pooling = optimizer, scheduler, pooling
        self.augment = SpecAugment(**augment) if augment else None
        contrastive = dict(contrastive or {})
        self.contrast_weight = float(contrastive.get("weight", 0.0))
        self.temperature = float(contrastive.get("temperature", 0.1))
        self.projector = None
        if self.contrast_weight > 0:
            dim, hidden = self.embedding_dim, int(contrastive.get("dim", 128))
            self.projector = torch.nn.Sequential(torch.nn.Linear(dim, hidden * 2), torch.nn.GELU(),
                                                 torch.nn.Linear(hidden * 2, hidden))
        self.dec = DECHead(dim=self.embedding_dim, **dec) if dec else None
        self._dec_epoch = None   # the epoch whose DEC targets are built

    @property
    def embedding_dim(self) -> int:
        if self.pooling == "timestats":   # mean and spread over time of each (freq row, channel, code row)
            c, h, _ = self.net.code_shape
            return 2 * self.frontend.grid[0] * c * h
        return self.net.code_dim * (self.frontend.n_blocks if self.pooling == "concat" else 1)

    @staticmethod
    def _kept(batch, key: str) -> torch.Tensor:
        return batch[key][batch["ok"]] if "ok" in batch else batch[key]

    def on_train_batch_start(self, batch, batch_idx) -> None:
        """The DEC pass, before an epoch's first batch from `start_epoch` on (also when a resume skipped the epoch's
        start: Lightning's epoch after a checkpoint saved on an epoch's last batch): every rank at the same batch."""
        if self.dec is None or self.current_epoch < self.dec.start_epoch or self._dec_epoch == self.current_epoch:
            return
        self._dec_epoch = self.current_epoch
        z, ids = self._embed_all(self.trainer.datamodule.train_dataloader())
        centroids = None
        if not bool(self.dec.initialised):   # k-means on rank 0, its centroids to every rank
            centroids = self.trainer.strategy.broadcast(self.dec.kmeans(z) if self.trainer.is_global_zero else None)
            for opt in self.trainer.optimizers:   # their optimiser state starts here (as if untouched before)
                opt.state.pop(self.dec.centroids, None)
        self.dec.refresh(z, ids, len(self.trainer.datamodule.index), centroids)

    @torch.no_grad()
    def _embed_all(self, loader) -> tuple[torch.Tensor, torch.Tensor]:
        """Every sample of `loader`'s dataset embedded in eval mode, sorted by sample id, each id once. Under DDP
        each rank embeds its strided share (with rank 0's buffers, as DDP's next forward would) and the shares are
        gathered: every rank gets the same tensors, and the same as one process."""
        world, ds = self.trainer.world_size, loader.dataset
        sampler = None
        if world > 1:
            sampler = DistributedSampler(ds, num_replicas=world, rank=self.global_rank, shuffle=False)
            for name, buf in self.trainer.strategy.broadcast({k: v.cpu() for k, v in self.net.named_buffers()}).items():
                self.net.get_buffer(name).copy_(buf)
        loader = DataLoader(ds, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
                            collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                            worker_init_fn=loader.worker_init_fn, multiprocessing_context=loader.multiprocessing_context)
        was_training = self.training
        self.eval()
        parts = [(self.embed(b["wave"].to(self.device), b["length"].to(self.device)), b["sample_id"].to(self.device))
                 for b in loader]
        self.train(was_training)
        z, ids = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        if world > 1:   # DistributedSampler pads every share to the same length by repeating samples
            z, ids = _all_gather(z, world), _all_gather(ids, world)
        ids, order = ids.sort(stable=True)
        first = torch.ones_like(ids, dtype=torch.bool)
        first[1:] = ids[1:] != ids[:-1]
        return z[order][first], ids[first].cpu()

    def _spec(self, batch) -> torch.Tensor:
        keep = batch["ok"] if "ok" in batch else slice(None)
        lengths = batch["length"][keep] if "length" in batch else None
        return self.frontend.spectrogram(batch["wave"][keep], lengths)

    def _flat_blocks(self, spec: torch.Tensor) -> torch.Tensor:
        b = self.frontend.blocks(spec)
        return b.reshape(-1, *b.shape[2:])

    def _pool(self, codes: torch.Tensor, n_clips: int) -> torch.Tensor:
        """Block codes (n_clips * blocks, C, h, w) -> clip embeddings. concat: in (freq, time) block order (tied to
        where a sound sits in the clip); mean / max: over blocks; timestats: each frequency row's code mean and
        standard deviation over every time position (blocks and the code's own time axis): a texture or event
        anywhere in the clip gives the same embedding. The silence that pads a short clip counts too: how long a
        sound lasts in the window is part of what it sounds like (leaving the padding out lost on drums and FSDD:
        BENCHMARKS.md "Pooling of block codes")."""
        if self.pooling == "timestats":
            nf, nt = self.frontend.grid
            c, h, w = codes.shape[1:]
            t = codes.reshape(n_clips, nf, nt, c, h, w).permute(0, 1, 3, 4, 2, 5).reshape(n_clips, nf, c, h, nt * w)
            return torch.cat([t.mean(-1), t.std(-1, unbiased=False)], dim=-1).flatten(1)
        codes = codes.flatten(1).reshape(n_clips, self.frontend.n_blocks, -1)
        if self.pooling == "concat":
            return codes.flatten(1)
        return codes.mean(1) if self.pooling == "mean" else codes.amax(1)

    def _step(self, batch, stage: str) -> torch.Tensor:
        spec = self._spec(batch)
        target = self._flat_blocks(spec)
        train_aug = self.augment is not None and stage == "train"
        view = self.augment(spec) if train_aug else spec
        recon, code = self.net(self._flat_blocks(view))
        loss = recon_loss = F.mse_loss(recon, target)
        if self.projector is not None and spec.shape[0] > 1:
            other = self.augment(spec) if train_aug else spec
            z1 = self.projector(self._pool(code, spec.shape[0]))
            z2 = self.projector(self._pool(self.net.encoder(self._flat_blocks(other)), spec.shape[0]))
            contrast = nt_xent(z1, z2, self.temperature)
            loss = recon_loss + self.contrast_weight * contrast
            self.log(f"{stage}/contrastive", contrast, on_epoch=True, batch_size=spec.shape[0],
                     sync_dist=stage != "train")
        if self.dec is not None and stage == "train":
            if self.dec.active():
                clustering = self.dec.loss(self._pool(code, spec.shape[0]), self._kept(batch, "sample_id"))
                loss = loss + self.dec.weight * clustering
                self.log("train/dec", clustering, on_epoch=True, batch_size=spec.shape[0])
            else:   # zero-weighted before start_epoch: DDP expects a gradient for every parameter at every step
                loss = loss + 0.0 * self.dec.centroids.sum()
        self.log(f"{stage}/recon", recon_loss, on_epoch=True, batch_size=spec.shape[0], sync_dist=stage != "train")
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=spec.shape[0], sync_dist=stage != "train")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> (B, embedding_dim)."""
        spec = self.frontend.spectrogram(wave, lengths)
        return self._pool(self.net.encoder(self._flat_blocks(spec)), wave.shape[0])

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        z = self.embed(batch["wave"], batch.get("length"))
        out = {"embedding": z.float().cpu(), "sample_id": batch["sample_id"].cpu(), "ok": batch["ok"].cpu(),
               "power": signal_power(batch["wave"], batch.get("length")).cpu()}
        if self.predict_voice:
            out["voice"] = long_term_spectrum(batch["wave"], batch.get("length"), self.frontend.sr).cpu()
        if self.dec is not None and bool(self.dec.initialised):
            out["dec_cluster"] = self.dec.soft_assign(z).argmax(1).cpu()
        return out

    def configure_optimizers(self):
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=opt),
                                                   "interval": "epoch"}}


def _all_gather(x: torch.Tensor, world: int) -> torch.Tensor:
    """Every rank's `x` (same shape on each), concatenated in rank order."""
    parts = [torch.empty_like(x) for _ in range(world)]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts)
