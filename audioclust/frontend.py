"""On-the-fly spectrogram blocks: nnAudio spectrogram -> log -> normalisation -> (deltas) -> blocks.

Runs inside the LightningModule, so it is computed on the batch's device (GPU when there is one), in fp32.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from nnAudio import features
from torch import nn

from audioclust import checks
from audioclust.errors import ConfigError

NORMS = ("freq", "clip", "none")
ALIGNS = ("pad", "stretch")
KINDS = ("mel", "stft", "cqt")
LTAS_BINS = 128     # the spectrum is pooled to this many linear-frequency bins, whatever the sample rate
LOUD_DB = 30.0      # frames within this many dB of the clip's loudest frame count (pauses carry no voice)


def _spectrogram(kind: str, sr: int, n_fft: int, hop_length: int, n_mels: int, fmin: float,
                 fmax: float | None, n_bins: int, bins_per_octave: int) -> nn.Module:
    if kind == "mel":
        return features.MelSpectrogram(sr=sr, n_fft=n_fft, n_mels=n_mels, hop_length=hop_length,
                                       fmin=fmin, fmax=fmax, power=2.0, trainable_mel=False,
                                       trainable_STFT=False, verbose=False)
    if kind == "stft":
        return features.STFT(n_fft=n_fft, hop_length=hop_length, output_format="Magnitude",
                             freq_scale="no", sr=sr, verbose=False)
    if kind == "cqt":
        return features.CQT(sr=sr, hop_length=hop_length, fmin=max(fmin, 32.7), n_bins=n_bins,
                            bins_per_octave=bins_per_octave, output_format="Magnitude", verbose=False)
    raise ConfigError(f"unknown frontend kind {kind!r}: use mel, stft or cqt")


def _check_values(kind, sr, clip_seconds, n_fft, frames_per_second, n_mels, fmin, fmax, n_bins, bins_per_octave,
                  norm, align, channels, lifter) -> None:
    """Values that nnAudio would fail on (or silently misuse), as one clear config error each."""
    checks.choice("frontend.kind", kind, KINDS)
    checks.choice("frontend.norm", norm, NORMS)
    checks.choice("frontend.align", align, ALIGNS)
    checks.choice("frontend.channels", channels, (1, 3))
    checks.number("frontend.sr", sr, integer=True)
    checks.number("frontend.clip_seconds", clip_seconds)
    checks.number("frontend.n_fft", n_fft, integer=True)
    checks.number("frontend.frames_per_second", frames_per_second)
    if kind == "mel":
        checks.number("frontend.n_mels", n_mels, integer=True)
    if kind == "cqt":
        checks.number("frontend.n_bins", n_bins, integer=True)
        checks.number("frontend.bins_per_octave", bins_per_octave, integer=True)
    checks.number("frontend.lifter", lifter, strict=False, integer=True)
    if kind == "mel" and fmin >= (fmax or sr / 2):
        raise ConfigError(f"frontend.fmin={fmin} Hz must be below fmax ({fmax or sr / 2} Hz)")
    n_samples = int(round(sr * clip_seconds))
    if kind != "cqt" and n_fft // 2 >= n_samples:
        raise ConfigError(f"frontend.n_fft={n_fft} is too long for a {clip_seconds} s clip at {sr} Hz "
                          f"({n_samples} samples): use n_fft < {2 * n_samples}")
    if kind == "cqt" and max(fmin, 32.7) * 2 ** (n_bins / bins_per_octave) > sr / 2:
        raise ConfigError(f"frontend: the top CQT bin (fmin {max(fmin, 32.7)} Hz, {n_bins} bins at "
                          f"{bins_per_octave}/octave) is above the Nyquist frequency {sr / 2} Hz: lower n_bins")


def lifter_matrix(n_bins: int, keep: int) -> torch.Tensor:
    """(F, F) matrix that smooths a log spectrum along frequency: orthonormal DCT-II, keep cepstral coefficients
    1..keep (c0, the loudness, and the fine structure above `keep`, e.g. pitch harmonics, go), inverse DCT."""
    from scipy.fft import dct

    basis = dct(np.eye(n_bins), norm="ortho", axis=0)[1:keep + 1]   # rows: the kept coefficients
    return torch.from_numpy(basis.T @ basis).float()


def deltas(x: torch.Tensor) -> torch.Tensor:
    """Central difference along time (last dim), same length."""
    padded = torch.nn.functional.pad(x, (1, 1), mode="replicate")
    return (padded[..., 2:] - padded[..., :-2]) / 2


class Frontend(nn.Module):
    def __init__(self, kind: str = "mel", sr: int = 16000, clip_seconds: float = 1.0, n_fft: int = 1024,
                 hop_length: int | None = None, frames_per_second: float = 64.0, n_mels: int = 64, fmin: float = 0.0, fmax: float | None = None,
                 n_bins: int = 84, bins_per_octave: int = 12, norm: str = "clip", channels: int = 1,
                 block_size=(64, 32), block_hop=None, align: str = "pad", eps: float = 1e-6, lifter: int = 0):
        super().__init__()
        _check_values(kind, sr, clip_seconds, n_fft, frames_per_second, n_mels, fmin, fmax, n_bins, bins_per_octave,
                      norm, align, channels, lifter)
        self.block_size = checks.pair("frontend.block_size", block_size)
        self.block_hop = checks.pair("frontend.block_hop", block_hop, optional=True) or self.block_size
        self.kind, self.norm, self.channels, self.eps, self.align = kind, norm, channels, eps, align
        self.lifter, self.sr = int(lifter), int(sr)
        # the (F, F) smoothing matrix, set once F is known below; moved with the module, not saved in checkpoints
        self.register_buffer("_lifter", None, persistent=False)
        hop_length = self.hop_length = int(hop_length or max(1, round(sr / frames_per_second)))
        self.n_samples = int(round(sr * clip_seconds))
        if kind == "mel":  # the window of the torch.stft route (_mel_power), made once, not per batch
            self.register_buffer("_hann", torch.hann_window(int(n_fft)), persistent=False)
        try:  # nnAudio's own checks (kernel longer than the clip, ...) become one config error
            self.spec = _spectrogram(kind, sr, n_fft, hop_length, n_mels, fmin, fmax, n_bins, bins_per_octave)
            self.spec_shape = tuple(self.spectrogram(torch.zeros(1, self.n_samples)).shape[-2:])
        except (ValueError, RuntimeError, AssertionError) as exc:
            msg = " ".join(str(exc).split())[:200]
            raise ConfigError(f"frontend ({kind}, sr={sr}, n_fft={n_fft}, {clip_seconds} s clips) cannot be "
                              f"built: {msg}") from None
        if self.lifter and self.lifter >= self.spec_shape[0]:
            raise ConfigError(f"frontend.lifter={self.lifter} must be below the number of frequency bins "
                              f"({self.spec_shape[0]})")
        if self.lifter:
            self._lifter = lifter_matrix(self.spec_shape[0], self.lifter)
        if self.spec_shape[0] * self.spec_shape[1] < 2:
            raise ConfigError(f"frontend: the spectrogram of a {clip_seconds} s clip is only {self.spec_shape} "
                              "(freq, time): raise clip_seconds, frames_per_second or the number of bins")
        if any(b > s for b, s in zip(self.block_size, self.spec_shape)):
            raise ConfigError(f"frontend.block_size {list(self.block_size)} (freq, time) is larger than the spectrogram "
                              f"{list(self.spec_shape)} of a {clip_seconds} s clip: use a smaller block or a longer clip")
        self.n_blocks = self.grid[0] * self.grid[1]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple((s - b) // h + 1 for s, b, h in zip(self.spec_shape, self.block_size, self.block_hop))

    def spectrogram(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> normalised log spectrogram with channels, (B, C, F, T), fp32.

        With align=stretch and `lengths` (valid samples per clip), each clip's frames are resampled to fill
        the whole time axis, so clips of different durations line up."""
        with torch.autocast(device_type=wave.device.type, enabled=False):
            s = self._mel_power(wave.float()) if self._fast_mel() else self.spec(wave.float())
            s = torch.log(s.clamp_min(self.eps))
            if self._lifter is not None:  # (None while __init__ measures the spectrogram's shape)
                s = torch.matmul(self._lifter, s)
            if self.align == "stretch" and lengths is not None:
                s = self._stretch(s, lengths)
            s = self._normalise(s)
            if self.channels == 3:
                d1 = deltas(s)
                s = torch.stack([s, d1, deltas(d1)], dim=1)
            else:
                s = s.unsqueeze(1)
        return s

    def _fast_mel(self) -> bool:
        return self.kind == "mel" and not self.spec.trainable_STFT and getattr(self.spec, "center", True)

    def _mel_power(self, wave: torch.Tensor) -> torch.Tensor:
        """nnAudio's MelSpectrogram (same mel filterbank, same reflect padding and periodic Hann window, power 2)
        computed with torch.stft (FFT) instead of its conv1d Fourier kernels: equal to 1e-6, and faster (bench/frontend.py)."""
        st = self.spec.stft
        n_fft, pad = self.spec.n_fft, self.spec.n_fft // 2
        x = torch.nn.functional.pad(wave.reshape(-1, 1, wave.shape[-1]), (pad, pad), mode=st.pad_mode)[:, 0]
        spec = torch.stft(x, n_fft, hop_length=st.stride, win_length=n_fft, center=False, return_complex=True,
                          window=self._hann.to(dtype=x.dtype))
        power = spec.real ** 2 + spec.imag ** 2
        if self.spec.power != 2:
            power = power ** (self.spec.power / 2)
        return torch.matmul(self.spec.mel_basis, power)

    def _stretch(self, s: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Each clip's first n valid frames resampled linearly onto all T frames (align_corners), in one gather."""
        t = s.shape[-1]
        frames = (lengths.to(s.device) // self.hop_length + 1).clamp(2, t)
        pos = torch.arange(t, device=s.device, dtype=s.dtype) * ((frames - 1).to(s.dtype) / max(t - 1, 1))[:, None]
        lo = pos.floor().long().clamp_max(t - 1)
        hi = (lo + 1).clamp_max(frames[:, None] - 1)
        w = (pos - lo.to(s.dtype))[:, None]
        idx = [i[:, None].expand(-1, s.shape[1], -1) for i in (lo, hi)]
        return s.gather(2, idx[0]) * (1 - w) + s.gather(2, idx[1]) * w

    def _normalise(self, s: torch.Tensor) -> torch.Tensor:
        if self.norm == "none":
            return s
        mean = s.mean(dim=-1, keepdim=True) if self.norm == "freq" else s.mean(dim=(-2, -1), keepdim=True)
        s = s - mean
        return s / s.std(dim=(-2, -1), keepdim=True).clamp_min(1e-3)

    def blocks(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, C, F, T) -> (B, N, C, bf, bt), blocks in row-major (freq, time) order."""
        (bf, bt), (hf, ht) = self.block_size, self.block_hop
        b = spec.unfold(2, bf, hf).unfold(3, bt, ht)          # B, C, nf, nt, bf, bt
        b = b.permute(0, 2, 3, 1, 4, 5)                        # B, nf, nt, C, bf, bt
        return b.reshape(spec.shape[0], -1, spec.shape[1], bf, bt)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(self.spectrogram(wave, lengths))


def long_term_spectrum(wave: torch.Tensor, lengths: torch.Tensor | None, sr: int) -> torch.Tensor:
    """(B, samples) -> (B, LTAS_BINS): mean log power spectrum over each clip's loud frames, 64 ms windows."""
    n_fft = 2 ** max(5, round(math.log2(0.064 * sr)))
    hop = n_fft // 4
    x = wave.float()
    if x.shape[-1] < n_fft:
        x = F.pad(x, (0, n_fft - x.shape[-1]))
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, center=False, return_complex=True)
    logp = torch.log(spec.real ** 2 + spec.imag ** 2 + 1e-10)                       # B, F, T
    t = logp.shape[-1]
    n = torch.full((x.shape[0],), x.shape[-1], device=x.device) if lengths is None else lengths.to(x.device)
    frames = ((n - n_fft) // hop + 1).clamp(1, t)
    valid = torch.arange(t, device=x.device)[None] < frames[:, None]                # B, T
    energy = logp.mean(1).masked_fill(~valid, -torch.inf)   # mean log power: broadband level, not one loud hum
    loud = valid & (energy >= energy.max(1, keepdim=True).values - LOUD_DB * math.log(10) / 10)
    w = loud.to(logp.dtype)[:, None]                                                 # B, 1, T
    ltas = (logp * w).sum(-1) / w.sum(-1)                                            # B, F
    return F.adaptive_avg_pool1d(ltas[:, None], min(LTAS_BINS, ltas.shape[-1]))[:, 0]


def signal_power(wave: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, samples) -> (B,) mean square of each clip's own samples (padding left out): how much sound a window
    holds, the weight of a window when a file's windows are pooled (data.pool_weights=power)."""
    x = wave.float()
    n = torch.full((x.shape[0],), x.shape[-1], device=x.device) if lengths is None else lengths.to(x.device)
    valid = torch.arange(x.shape[-1], device=x.device)[None] < n[:, None]
    return (x.pow(2) * valid).sum(-1) / n.clamp_min(1)
