"""LightningModule: waveforms -> spectrogram blocks (on device) -> block autoencoder; clip embeddings."""
from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F

from audioclust.errors import ConfigError
from audioclust.frontend import Frontend
from audioclust.model.autoencoder import ConvAutoencoder

POOLINGS = ("concat", "mean", "max")


class BlockAutoencoder(L.LightningModule):
    def __init__(self, frontend: Frontend, net: dict, optimizer, scheduler=None, pooling: str = "concat"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown model.pooling {pooling!r}: use one of {POOLINGS}")
        self.frontend = frontend
        self.net = ConvAutoencoder(frontend.channels, frontend.block_size, **net)
        self.optimizer_factory, self.scheduler_factory, self.pooling = optimizer, scheduler, pooling

    @property
    def embedding_dim(self) -> int:
        return self.net.code_dim * (self.frontend.n_blocks if self.pooling == "concat" else 1)

    def _blocks(self, batch) -> torch.Tensor:
        keep = batch["ok"] if "ok" in batch else slice(None)
        lengths = batch["length"][keep] if "length" in batch else None
        b = self.frontend(batch["wave"][keep], lengths)
        return b.reshape(-1, *b.shape[2:])

    def _step(self, batch, stage: str) -> torch.Tensor:
        blocks = self._blocks(batch)
        recon, _ = self.net(blocks)
        loss = F.mse_loss(recon, blocks)
        self.log(f"{stage}/loss", loss, on_step=stage == "train", on_epoch=True, prog_bar=True,
                 batch_size=blocks.shape[0], sync_dist=stage != "train")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, "val")

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> (B, embedding_dim)."""
        b = self.frontend(wave, lengths)
        codes = self.net.encoder(b.reshape(-1, *b.shape[2:])).flatten(1)
        codes = codes.reshape(b.shape[0], b.shape[1], -1)
        if self.pooling == "concat":
            return codes.flatten(1)
        return codes.mean(1) if self.pooling == "mean" else codes.amax(1)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return {"embedding": self.embed(batch["wave"], batch.get("length")).float().cpu(),
                "sample_id": batch["sample_id"].cpu(), "ok": batch["ok"].cpu()}

    def configure_optimizers(self):
        opt = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=opt),
                                                   "interval": "epoch"}}
