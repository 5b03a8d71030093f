"""The block autoencoder of a train.py run as one member of encoder=mix, beside pretrained encoders:

    audioclust-cluster encoder=mix 'encoder.members=[aisfx,birdnet,blockae]' run_dir=logs/train/runs/<time>

The run's model embeds the clips the mix reads (cut as the run cuts its clips: tasks/builders.py; resampled to the
run's rate by MixEncoder). A clip longer than the run's length (data.clip_seconds= larger) is cut into windows of
that length as the data index cuts a long file (data/windowing.py; the last one ends at the clip's end) and their
embeddings are averaged, each weighted by its signal power (whatever the run's data.pool_weights).
Measured in BENCHMARKS.md, "Pretrained encoders beside the block autoencoder".
"""
from __future__ import annotations

import torch

from audioclust.data.windowing import Windowing
from audioclust.embed.encoders.base import Encoder, valid_lengths
from audioclust.frontend import signal_power


class TrainedEncoder(Encoder):
    licence = "your own model (audioclust-train)"
    pretrained = False   # encoder=blockae: a train.py run
    min_seconds = 0.0

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.sr = int(model.frontend.sr)
        self.n_samples = int(model.frontend.n_samples)
        self.embedding_dim = int(model.embedding_dim)

    def identity(self) -> dict:
        """The trained run's checkpoint and model config (builders.load_run records them on the model)."""
        return {**super().identity(), **getattr(self.model, "run_identity", {})}

    def windows(self, wave: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Each clip's valid samples in windows of the run's length, cut as the data index cuts a file
        (Windowing.offsets: every run length, the last one ending at the clip's end; a shorter clip is one window):
        (windows (W, n_samples), valid samples per window (W,), windows per clip)."""
        n, rows, valid, counts = self.n_samples, [], [], []
        cut = Windowing(n / self.sr, n / self.sr)
        for row, k in zip(wave, valid_lengths(wave, lengths)):
            starts = sorted({min(round(t * self.sr), max(k - n, 0)) for t in cut.offsets(k / self.sr)})
            for s in starts:
                piece = row[s:min(s + n, k)].float()
                rows.append(torch.nn.functional.pad(piece, (0, n - piece.shape[0])))
                valid.append(piece.shape[0])
            counts.append(len(starts))
        return torch.stack(rows), torch.tensor(valid, device=wave.device), counts

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) at self.sr -> (B, D): the power-weighted mean of the clip's windows' embeddings."""
        w, valid, counts = self.windows(wave, lengths)
        z = self.model.embed(w, valid).float()
        p = signal_power(w, valid).clamp_min(1e-12)
        out = [(zi * pi[:, None]).sum(0) / pi.sum() for zi, pi in zip(z.split(counts), p.split(counts))]
        return torch.stack(out)
