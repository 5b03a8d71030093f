"""Resemblyzer's speaker encoder (GE2E LSTM, weights shipped in ``resemblyzer``): 256-d d-vectors at 16 kHz.

Per clip the adapter calls the package's own steps, as ``VoiceEncoder.embed_utterance`` does: optional
``normalize_volume`` (-30 dBFS, increase only) and ``trim_long_silences`` (webrtcvad), then the partial
utterances of ``compute_partial_slices`` (1.6 s each, ``rate`` per second, zero-padded at the end) and
``wav_to_mel_spectrogram``; the LSTM runs on the partials of all clips of a batch at once (on the module's
device). Frames are the partial embeddings (each L2-normed); the clip embedding is their plain mean (the package
L2-normalises that mean once more: same direction, so the same cosine geometry).
"""
from __future__ import annotations

import importlib

import numpy as np
import torch

from audioclust.embed.encoders.base import Encoder, pad_frames


class ResemblyzerEncoder(Encoder):
    """Frames: one 256-d d-vector per 1.6 s partial utterance; embedding: their mean."""

    sr = 16000
    embedding_dim = 256
    licence = "Apache-2.0 (Resemblyzer code and pretrained.pt)"
    # resemblyzer needs webrtcvad, whose sdist no longer imports: the extra brings the wheels fork
    extra, no_deps = "speaker", ("resemblyzer==0.1.4",)
    requires = ("resemblyzer", "webrtcvad", "librosa")
    min_seconds = 0.03        # one VAD window; every clip is zero-padded to whole 1.6 s partials by the package
    cpu_input = True          # the package's preprocessing and mels are numpy; only the LSTM runs on the module's device

    def __init__(self, normalize_volume: bool = True, trim_silences: bool = False, rate: float = 1.3,
                 min_coverage: float = 0.75):
        super().__init__()
        resemblyzer = self.need("resemblyzer")
        self.need("resemblyzer.audio")
        self.net = resemblyzer.VoiceEncoder(device="cpu", verbose=False)
        self.net.requires_grad_(False).eval()
        self.normalize_volume, self.trim_silences = normalize_volume, trim_silences
        self.rate, self.min_coverage = rate, min_coverage

    @property
    def audio(self):
        """The package's resemblyzer.audio (looked up, not kept: a module cannot be pickled for ddp_spawn)."""
        return importlib.import_module("resemblyzer.audio")

    def preprocess(self, x: np.ndarray) -> np.ndarray:
        """The package's preprocess_wav steps (no resampling: the data module already gives 16 kHz)."""
        hp = importlib.import_module("resemblyzer.hparams")
        if self.normalize_volume and np.any(x):   # an all-zero clip would become NaN (log of 0 rms)
            x = self.audio.normalize_volume(x, hp.audio_norm_target_dBFS, increase_only=True)
        if self.trim_silences:
            trimmed = self.audio.trim_long_silences(x)
            x = trimmed if len(trimmed) else x   # nothing voiced (e.g. a non-speech sound): keep the clip
        return x.astype(np.float32)

    def partial_mels(self, x: np.ndarray) -> np.ndarray:
        """embed_utterance's partial mel spectrograms (P, 160, 40) of one preprocessed clip."""
        wav_slices, mel_slices = self.net.compute_partial_slices(len(x), self.rate, self.min_coverage)
        stop = wav_slices[-1].stop
        if stop >= len(x):
            x = np.pad(x, (0, stop - len(x)), "constant")
        mel = self.audio.wav_to_mel_spectrogram(x)
        return np.array([mel[s] for s in mel_slices])

    @torch.no_grad()
    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mels = [self.partial_mels(self.preprocess(c.cpu().numpy())) for c in self.clips(wave, lengths)]
        device = next(self.net.parameters()).device
        z = self.net(torch.from_numpy(np.concatenate(mels)).to(device)).float().cpu()
        return pad_frames(list(torch.split(z, [len(m) for m in mels])), self.embedding_dim)
