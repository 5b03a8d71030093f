"""The interface every pretrained encoder keeps: waves at ``sr`` -> frame features -> one embedding per clip."""
from __future__ import annotations

import importlib

import lightning
import torch

from audioclust.errors import ConfigError
from audioclust.frontend import Frontend


def require(module: str, extra: str, install: str | None = None):
    """Import ``module`` or raise a one-line ConfigError naming the pip command of the encoder's extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        cmd = install or f"pip install 'audioclust[{extra}]'"
        raise ConfigError(f"encoder={extra} needs its extra: {cmd} (import {module} failed: {e})") from None


def valid_lengths(wave: torch.Tensor, lengths: torch.Tensor | None) -> list[int]:
    """Valid sample count per clip as Python ints (the whole row where ``lengths`` is None)."""
    if lengths is None:
        return [wave.shape[1]] * wave.shape[0]
    return [int(n) for n in lengths.clamp(0, wave.shape[1]).tolist()]


def pad_frames(per_clip: list[torch.Tensor], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a list of (T_i, D) frame features into (B, T, D) zero-padded features and a (B, T) bool mask."""
    t = max((f.shape[0] for f in per_clip), default=0)
    out = torch.zeros(len(per_clip), max(t, 1), dim, dtype=torch.float32)
    mask = torch.zeros(len(per_clip), max(t, 1), dtype=torch.bool)
    for i, f in enumerate(per_clip):
        out[i, :f.shape[0]] = f.float().cpu()
        mask[i, :f.shape[0]] = True
    return out, mask


class Encoder(lightning.LightningModule):
    """A frozen pretrained encoder: waves at self.sr -> frame features -> one embedding per clip (mean over frames)."""

    sr: int                 # sample rate the model takes (the data module resamples to it)
    embedding_dim: int
    licence: str            # the weights' licence, one line
    min_seconds: float      # shortest input the model takes; shorter clips are zero-padded by the adapter

    def __init__(self):
        super().__init__()
        self._display = None

    @property
    def frontend(self) -> Frontend:
        """Display only: a plain log-mel front end at self.sr for the montage's, the explorer's and W&B's
        spectrograms (embed.inference.clips), as the block autoencoder's model.frontend gives them. Built on first
        use (some adapters learn their sr from the package); the encoder itself never reads it."""
        if self._display is None:
            self._display = Frontend(kind="mel", sr=int(self.sr)).to(self.device)
        return self._display

    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) float32 at self.sr, valid lengths (B,) -> (frame features (B, T, D), frame mask (B, T) bool)."""
        raise NotImplementedError

    def min_samples(self) -> int:
        return int(round(self.min_seconds * self.sr))

    def clips(self, wave: torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
        """Each clip's valid samples (float32, on wave's device), zero-padded to ``min_seconds`` where shorter."""
        out = []
        m = self.min_samples()
        for row, n in zip(wave, valid_lengths(wave, lengths)):
            x = row[:n].float()
            if n < m:
                x = torch.nn.functional.pad(x, (0, m - n))
            out.append(x)
        return out

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> (B, D): the mean of each clip's unmasked frames."""
        feats, mask = self.frames(wave, lengths)
        m = mask.to(feats.dtype).unsqueeze(-1)
        return (feats * m).sum(1) / m.sum(1).clamp_min(1.0)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        from audioclust.frontend import signal_power

        z = self.embed(batch["wave"], batch.get("length"))
        return {"embedding": z.float().cpu(), "sample_id": batch["sample_id"].cpu(), "ok": batch["ok"].cpu(),
                "power": signal_power(batch["wave"], batch.get("length")).cpu()}

    def train(self, mode: bool = True):
        """Frozen: always in eval mode (no dropout / batch-norm updates), whatever Lightning asks."""
        return super().train(False)

    def configure_optimizers(self):  # pragma: no cover - encoders are never trained
        return None
