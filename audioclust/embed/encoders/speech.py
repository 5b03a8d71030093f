"""Google's speech_embedding (as ONNX, shipped inside ``openwakeword``) run by onnxruntime: 96-d frames.

openwakeword's AudioFeatures turns 16 kHz int16 PCM into 32-band log-mels (its melspectrogram.onnx, with its
default ``x / 10 + 2`` transform) and runs the embedding model on windows of 76 mel frames (775 ms) every 8
frames (80 ms). ``embed_clips`` does both but needs equal-length clips whose length is a multiple of 160
samples, so the adapter calls the same per-clip mel step (``_get_melspectrogram``, openwakeword 0.4.0 is pinned)
and runs the windows of all clips of a batch through one embedding-model call.

The model was trained for streaming wake-word detection: a window's embedding describes the sound that ends near
the window's end. A clip is therefore swept through the window, as a stream that starts in silence would be:
each clip gets LEAD s of silence before it and TAIL s after, and its embedding is the mean of every window over
that (windows ending from the clip's start to TAIL s past its end), wherever the sound sits in the clip. On FSDD
digits (bench/recipes.py) this took NMI from 0.30 (clip at the window's start) to 0.90 (0.93 + UMAP).
"""
from __future__ import annotations

import numpy as np
import torch

from audioclust.embed.encoders.base import Encoder, pad_frames, require

INSTALL = "pip install 'audioclust[speech]'"
WINDOW, STEP = 76, 8          # mel frames per embedding window, and the step between windows (openwakeword)
LEAD, TAIL = 0.695, 0.3       # s of silence before (one window less one step) and after each clip


class SpeechEmbeddingEncoder(Encoder):
    """Frames: one 96-d embedding per 775 ms window, every 80 ms; embedding: their mean. Runs on CPU (onnxruntime)."""

    sr = 16000
    embedding_dim = 96
    licence = ("Apache-2.0 upstream (Google speech_embedding, TF Hub); openwakeword says its bundled models are "
               "CC BY-NC-SA 4.0: check before commercial use")
    min_seconds = 0.0         # LEAD + TAIL of silence make every clip at least one window long

    def __init__(self, ncpu: int = 1, window_batch: int = 512):
        super().__init__()
        utils = require("openwakeword.utils", "speech", INSTALL)
        require("onnxruntime", "speech", INSTALL)
        import warnings
        with warnings.catch_warnings():   # it asks for CUDAExecutionProvider first and warns where there is none
            warnings.simplefilter("ignore", UserWarning)
            self.features = utils.AudioFeatures(ncpu=ncpu)
        self.window_batch = window_batch

    @staticmethod
    def pcm16(x: np.ndarray) -> np.ndarray:
        """float waves in [-1, 1] -> the int16 PCM openwakeword takes."""
        return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)

    def mel(self, pcm: np.ndarray) -> np.ndarray:
        """openwakeword's mel frames (T, 32) of one int16 clip."""
        return np.asarray(self.features._get_melspectrogram(pcm), dtype=np.float32).reshape(-1, 32)

    @torch.no_grad()
    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        windows, counts = [], []
        lead, tail = int(LEAD * self.sr), int(TAIL * self.sr)
        for clip in self.clips(wave, lengths):
            x = clip.cpu().numpy()
            x = np.pad(x, (lead, tail + (-(lead + len(x) + tail)) % 160))   # openwakeword: whole 10 ms hops
            spec = self.mel(self.pcm16(x))
            starts = range(0, spec.shape[0] - WINDOW + 1, STEP)
            windows += [spec[s:s + WINDOW] for s in starts]
            counts.append(len(starts))
        batch = np.stack(windows)[..., None].astype(np.float32)   # (N, 76, 32, 1)
        out = [self.features.embedding_model.run(None, {"input_1": batch[k:k + self.window_batch]})[0]
               for k in range(0, len(batch), self.window_batch)]
        z = torch.from_numpy(np.concatenate(out).reshape(len(batch), -1))
        return pad_frames(list(torch.split(z, counts)), self.embedding_dim)
