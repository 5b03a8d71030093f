"""frontend.lifter: cepstral smoothing of the log spectrum along frequency (experiment=fsdd uses 12)."""
import numpy as np
import pytest
import scipy.fft
import torch

from audioclust.errors import ConfigError
from audioclust.frontend import Frontend, lifter_matrix

SR = 8000


def _voice(f0: float, formants: tuple[float, ...], seconds: float = 0.5) -> torch.Tensor:
    """Harmonics of f0 shaped by a formant envelope: pitch (fine structure) and timbre (envelope) separately."""
    t = np.arange(int(SR * seconds)) / SR
    x = np.zeros_like(t)
    for h in np.arange(f0, SR / 2 - 100, f0):
        gain = sum(np.exp(-0.5 * ((h - f) / 150) ** 2) for f in formants) + 0.01
        x += gain * np.sin(2 * np.pi * h * t)
    return torch.tensor(x / np.abs(x).max(), dtype=torch.float32)


def test_lifter_matrix_is_dct_keep_idct():
    x = np.random.default_rng(0).standard_normal((3, 24, 5))
    c = scipy.fft.dct(x, axis=1, norm="ortho")
    c[:, 0] = 0
    c[:, 9:] = 0
    want = scipy.fft.idct(c, axis=1, norm="ortho")
    m = lifter_matrix(24, 8)
    assert np.abs(m.double().numpy() @ x - want).max() < 1e-5
    assert torch.allclose(m @ m, m, atol=1e-5)  # a projection: a smoothed spectrum passes unchanged


def test_lifter_keeps_the_envelope_and_drops_pitch_and_loudness():
    kw = dict(sr=SR, clip_seconds=0.5, n_fft=512, n_mels=40, norm="none", block_size=(40, 16))
    a_low, a_high, b_low = _voice(110, (700, 1200)), _voice(210, (700, 1200)), _voice(110, (300, 2300))
    x = torch.stack([a_low, a_high, b_low])

    def dist(fe):
        s = fe.spectrogram(x)[:, 0, :, 4:-4].mean(-1)   # average log spectrum, edge frames left out
        return (s[0] - s[1]).norm().item(), (s[0] - s[2]).norm().item(), s
    pitch_raw, timbre_raw, _ = dist(Frontend(**kw))
    pitch, timbre, s = dist(Frontend(lifter=8, **kw))
    assert pitch < 0.5 * timbre                          # same vowel, other pitch: close
    assert pitch / timbre < 0.7 * pitch_raw / timbre_raw  # closer than without the lifter
    assert s.mean(1).abs().max() < 1e-4                   # c0 (loudness) is gone


def test_bad_lifter_says_what_is_wrong():
    with pytest.raises(ConfigError, match="lifter=24 must be below"):
        Frontend(sr=SR, n_fft=256, n_mels=24, block_size=(24, 32), lifter=24)
    with pytest.raises(ConfigError, match="frontend.lifter must be an integer >= 0"):
        Frontend(lifter=-1)
