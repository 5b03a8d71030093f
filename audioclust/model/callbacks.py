"""Lightning callbacks of the train task: reconstructions of a fixed set of blocks, as PNG and W&B image."""
from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

from audioclust import io


class Reconstructions(L.Callback):
    """Every `every_n_epochs` (and after the last epoch): the same `n_blocks` validation blocks (input above,
    reconstruction below, first channel) drawn to `dirpath/epoch_XXX.png` and logged to W&B as
    `val/reconstructions` when a WandbLogger is attached. Rank 0 only."""

    def __init__(self, dirpath: str, every_n_epochs: int = 5, n_blocks: int = 8):
        if every_n_epochs < 1 or n_blocks < 1:
            raise ValueError(f"every_n_epochs ({every_n_epochs}) and n_blocks ({n_blocks}) must be >= 1")
        self.dirpath, self.every, self.n_blocks = Path(dirpath), int(every_n_epochs), int(n_blocks)
        self._blocks = None

    def _due(self, trainer) -> bool:
        epoch, last = trainer.current_epoch + 1, trainer.max_epochs or -1
        return epoch % self.every == 0 or 0 < last <= epoch

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero or not self._due(trainer):
            return
        blocks = self._fixed_blocks(trainer, pl_module)
        if blocks is None:
            return
        was_training = pl_module.net.training
        pl_module.net.eval()
        with torch.no_grad():
            recon, _ = pl_module.net(blocks.to(pl_module.device))
        pl_module.net.train(was_training)
        path = self.dirpath / f"epoch_{trainer.current_epoch:03d}.png"
        self._draw(blocks[:, 0].cpu().numpy(), recon[:, 0].float().cpu().numpy(), path, trainer.current_epoch)
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                logger.log_image("val/reconstructions", [str(path)], step=trainer.global_step,
                                 caption=[f"epoch {trainer.current_epoch}: input (top) / reconstruction (bottom)"])

    @torch.no_grad()
    def _fixed_blocks(self, trainer, pl_module) -> torch.Tensor | None:
        """The first n_blocks blocks of the first validation clips (training clips without a validation set)."""
        if self._blocks is None:
            dm = trainer.datamodule
            ds = (dm.val_dataloader().dataset if len(getattr(dm, "val_ids", [])) else dm.train_dataloader().dataset)
            per_clip = pl_module.frontend.n_blocks
            items = [ds[i] for i in range(min(len(ds), -(-self.n_blocks // per_clip)))]
            items = [it for it in items if it.get("ok", True)]
            if not items:
                return None
            wave = torch.stack([it["wave"] for it in items]).to(pl_module.device)
            lengths = torch.tensor([it["length"] for it in items])
            spec = pl_module.frontend.spectrogram(wave, lengths)
            self._blocks = pl_module._flat_blocks(spec)[:self.n_blocks].detach().cpu()
        return self._blocks

    @staticmethod
    def _draw(inputs: np.ndarray, recons: np.ndarray, path: Path, epoch: int) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(inputs)
        fig, axes = plt.subplots(2, n, figsize=(1.4 * n + 0.6, 3.2), squeeze=False)
        for j in range(n):
            lo, hi = float(inputs[j].min()), float(inputs[j].max())
            for r, img in enumerate((inputs[j], recons[j])):
                axes[r][j].imshow(img, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi)
                axes[r][j].set_xticks([])
                axes[r][j].set_yticks([])
        axes[0][0].set_ylabel("input")
        axes[1][0].set_ylabel("reconstruction")
        fig.suptitle(f"epoch {epoch}: fixed validation blocks")
        fig.tight_layout()
        with io.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=90)
        plt.close(fig)
