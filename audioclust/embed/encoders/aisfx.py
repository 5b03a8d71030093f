"""aiSFX (Cross-dataset sound-effects CNN, ISMIR 2022) from the ``aisfx`` package: 512-d block embeddings.

The package ships its checkpoint and a librosa route to its log-mel input; this adapter keeps that route's
numbers (checked against it in tests/embed) but computes it in torch, batched and on the module's device:
peak-normalised clip -> |STFT|^2 (hann 2048, hop 1024, centred, zero-padded as librosa>=0.10 does) -> the
package's mel bank (librosa.filters.mel, 96 htk bands, norm=1) -> log10(1e4 x + 1) -> the package's min-max
normalisation -> blocks of 100 frames (~2.3 s) every ``hop`` x 100 frames -> the package's EmbeddingNet.

The network (most of the time on a CPU: BENCHMARKS.md "Where the encoders' time goes") runs in bfloat16 autocast
with channels-last weights where the device computes bf16 natively (``precision=auto``: a CUDA GPU that supports
it, a CPU with AMX or AVX512-BF16), else in float32 as the package does; the front end always runs in float32
(BENCHMARKS.md "Reduced precision").
"""
from __future__ import annotations

import importlib

import numpy as np
import torch

from audioclust.embed.encoders.base import Encoder, batch_option, pad_frames, say_once
from audioclust.errors import ConfigError


def load_checkpoint(path: str):
    """The package's (state_dict, ds_dict) with weights_only=True: allow only the numpy globals its pickle names."""
    from numpy._core.multiarray import scalar
    allowed = [(scalar, "numpy.core.multiarray.scalar"), np.dtype, type(np.dtype(np.int64))]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


PRECISIONS = ("auto", "32", "bf16")
POOLINGS = ("max", "mean_max")
FRAMES = 12   # the network's frames a block (~0.19 s each): 100 spectrogram frames after three 2x2 poolings
BLOCK_BATCH = {"cpu": 8, "cuda": 64}   # block_batch=null: blocks per forward (the CPU's fastest, the same bytes)


def native_bf16(device: torch.device) -> bool:
    """The device computes bfloat16 natively: a CUDA GPU that supports it (Ampere and newer), a CPU with AMX tiles or
    AVX512-BF16 (torch.cpu's probes, absent before torch 2.3: False). Elsewhere bf16 is emulated, slower than float32."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        probes = (getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"))
        return any(bool(p()) for p in probes if p is not None)
    return False


class AisfxEncoder(Encoder):
    """Frames: one vector per spectrogram block (100 frames, 2.32 s at 44.1 kHz): the network's 512-d embedding, or
    its frames' mean and maximum (pooling=mean_max, 1,024-d); embedding: the blocks' mean."""

    embedding_dim = 512   # per instance: 1,024 with pooling=mean_max
    licence = "CC BY 4.0 (aiSFX model weights; package code MIT)"
    extra, no_deps = "aisfx", ("aisfx==0.1.2",)   # aisfx pins numpy 1.23 / librosa 0.9.2: the extra brings the real ones
    requires = ("aisfx", "librosa")
    min_seconds = 0.05   # one STFT window; the net zero-pads every clip to a whole 2.3 s block itself

    def __init__(self, hop: float = 0.5, drop_partial_block: bool = True, block_batch: int | None = None,
                 precision: str = "auto", pooling: str = "max"):
        """precision: auto (bf16 where the device computes it natively, else 32) | 32 | bf16 (the network only).
        pooling: how a block's frames (the network's last map averaged over frequency, 512 features every ~0.19 s)
        become its vector: max (the network's own: its 512-d embedding) | mean_max (their mean and their maximum
        over the frames that hold the clip's audio, 1,024-d; BENCHMARKS.md "aisfx's frames pooled (encoder.pooling)":
        not the default, -0.015 NMI on the sound effects).
        block_batch: blocks per forward of the network; None: BLOCK_BATCH for the device (on the CPU small batches
        run fastest, within 1e-6 of any other (the same bytes here): BENCHMARKS.md "Where the encoders' time goes",
        aisfx against aisfx-64; a GPU wants large ones)."""
        super().__init__()
        batch_option("block_batch", block_batch, BLOCK_BATCH, "cpu")   # a wrong value stops the run here
        if str(precision) not in PRECISIONS:
            raise ConfigError(f"encoder.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = str(precision)
        if str(pooling) not in POOLINGS:
            raise ConfigError(f"encoder.pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.pooling = str(pooling)
        self.embedding_dim = 512 * (2 if self.pooling == "mean_max" else 1)
        self._net_precision: dict[str, str] = {}   # per device type: what precision resolved to
        inference = self.need("aisfx.inference")
        self.need("aisfx.preprocessing")
        librosa = self.need("librosa")
        self.sr = int(inference.SAMPLE_RATE)
        self.n_fft, self.spec_hop = inference.SPEC_BLOCK_LENGTH, inference.SPEC_HOP_LENGTH
        self.block = inference.EMB_BLOCK_LENGTH
        self.block_hop = max(1, int(round(self.block * hop)))
        self.drop_partial_block = drop_partial_block
        self.block_batch = block_batch
        weights, ds_dict = load_checkpoint(inference.get_path_modelWeights())
        self.net = inference.load_bestModel(weights, ds_dict, "cpu").embedding_net
        self.net.requires_grad_(False).eval()
        mel = librosa.filters.mel(sr=self.sr, n_fft=self.n_fft, n_mels=inference.MEL_BINS, fmin=inference.F_MIN,
                                  fmax=inference.F_MAX, htk=True, norm=1.0)
        self.register_buffer("mel", torch.from_numpy(mel).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        # the package's 'original' normalisation constants (spectrogram_normalize(spec, 'original'))
        probe = self.pre.spectrogram_normalize(np.array([0.0, 1.0]), spec_norm="original")
        self.norm_offset, self.norm_scale = float(probe[0]), float(probe[1] - probe[0])

    def net_precision(self, device: torch.device) -> str:
        """What ``precision`` means on ``device`` ("32" or "bf16"), said once per process; bf16 weights go
        channels-last (with bf16, 3x faster than contiguous on an AMX CPU; BENCHMARKS.md "Reduced precision")."""
        if device.type not in self._net_precision:
            native = native_bf16(device)
            chosen = "bf16" if self.precision == "bf16" or (self.precision == "auto" and native) else "32"
            self._net_precision[device.type] = chosen
            why = {"bf16": "bf16 autocast, channels-last", "32": "float32"}[chosen]
            where = f"{device.type}: {'native bf16' if native else 'no native bf16'}"
            say_once(f"encoder=aisfx: the network in {why} (precision={self.precision}; {where})")
            if chosen == "bf16":   # once: a later move to another device keeps the weights' layout
                self.net.to(memory_format=torch.channels_last)
        return self._net_precision[device.type]

    @property
    def pre(self):
        """The package's aisfx.preprocessing (looked up, not kept: a module cannot be pickled for ddp_spawn)."""
        return importlib.import_module("aisfx.preprocessing")

    def spectrogram(self, wave: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, list[int]]:
        """(B, samples) -> normalised log-mel (B, T, 96) and each clip's frame count (1 + length // 1024)."""
        clips = self.clips(wave.to(self.mel.device), lengths)
        n = [len(c) for c in clips]
        x = torch.zeros(len(clips), max(n), device=self.mel.device)
        for i, c in enumerate(clips):
            peak = c.abs().max() if len(c) else c.new_tensor(0.0)
            x[i, :len(c)] = c / torch.where(peak > 0, peak, torch.ones_like(peak))
        stft = torch.stft(x, self.n_fft, self.spec_hop, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        power = stft.abs().pow(2)                               # (B, 1025, T)
        spec = torch.log10(torch.matmul(self.mel, power) * 10000.0 + 1.0).transpose(1, 2)
        return spec * self.norm_scale + self.norm_offset, [1 + k // self.spec_hop for k in n]

    def pooled(self, blocks: torch.Tensor, valid: list[int]) -> torch.Tensor:
        """(b, 100, 96) blocks -> (b, embedding_dim) float32: the network's embedding (pooling=max), or the mean and
        maximum of its frames (its last map, read by a hook as the network runs, averaged over frequency) over each
        block's first `valid` frames."""
        if self.pooling == "max":
            return self.net(blocks).float()
        frames = self.frame_map(blocks)
        mask = torch.arange(frames.shape[2], device=frames.device)[None] < torch.tensor(valid, device=frames.device)[:, None]
        mean = (frames * mask[:, None]).sum(2) / mask.sum(1, keepdim=True)
        top = frames.masked_fill(~mask[:, None], -torch.inf).amax(2)
        return torch.cat([mean, top], 1)

    def frame_map(self, blocks: torch.Tensor) -> torch.Tensor:
        """(b, 100, 96) blocks -> (b, 512, 12) float32: the network's frames before its pooling over time, its last map
        averaged over frequency, read by a hook as the network runs (no copy of its forward)."""
        seen = []
        hook = self.net.conv_block4.register_forward_hook(lambda module, args, out: seen.append(out))
        try:
            self.net(blocks)
        finally:
            hook.remove()
        return seen[0].float().mean(3)

    def n_blocks(self, n_frames: int) -> int:
        """The package's own block count (aisfx.preprocessing.blocking) for a clip of n_frames."""
        return self.pre.blocking(np.zeros((n_frames, 1)), self.block, self.block_hop, self.drop_partial_block).shape[0]

    @torch.no_grad()
    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec, counts = self.spectrogram(wave, lengths)
        blocks, owner, valid = [], [], []
        for i, t in enumerate(counts):
            s = spec[i, :t]
            s = torch.nn.functional.pad(s, (0, 0, 0, self.block))   # the package zero-pads the last block
            for b in range(self.n_blocks(t)):
                blocks.append(s[b * self.block_hop: b * self.block_hop + self.block])
                owner.append(i)   # and the network's frames that hold audio (at least one)
                valid.append(max(1, min(FRAMES, -(-(t - b * self.block_hop) * FRAMES // self.block))))
        out = []
        device = spec.device
        bf16 = bool(blocks) and self.net_precision(device) == "bf16"
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            step = batch_option("block_batch", self.block_batch, BLOCK_BATCH, device.type)
            for k in range(0, len(blocks), step):
                out.append(self.pooled(torch.stack(blocks[k:k + step]), valid[k:k + step]))
        z = torch.cat(out).cpu()
        owner_t = torch.tensor(owner)
        return pad_frames([z[owner_t == i] for i in range(len(counts))], self.embedding_dim)
