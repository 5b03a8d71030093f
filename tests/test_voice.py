"""Voice groups: the long-term spectrum of a clip, and embeddings standardised within estimated voice groups."""
import numpy as np
import pytest
import torch

from audioclust.errors import ConfigError
from audioclust.voice import LTAS_BINS, VoiceGroups, long_term_spectrum
from conftest import noise, tone

SR = 8000


def _loud_then(tail_db: float) -> np.ndarray:
    """0.45 s of white noise faded out, 50 ms of nothing, then 0.5 s of other white noise `tail_db` quieter."""
    t = np.arange(SR)
    loud = noise(4, SR) * np.clip((SR * 0.45 - t) / 160, 0, 1)
    tail = noise(5, SR) * 10 ** (-tail_db / 20) * (t >= SR // 2)
    return (loud + tail).astype(np.float32)


def test_long_term_spectrum_ignores_quiet_frames_and_padding():
    padded = np.concatenate([_loud_then(40)[:SR // 2], noise(1, SR, 0.5)])    # beyond `length`: must not count
    wave = torch.from_numpy(np.stack([_loud_then(40), _loud_then(10), padded, padded * 0]))
    wave[3, :SR // 2] = wave[2, :SR // 2]
    ltas = long_term_spectrum(wave, torch.tensor([SR, SR, SR // 2, SR // 2]), SR).numpy()
    assert ltas.shape == (4, LTAS_BINS) and np.isfinite(ltas).all()
    assert np.abs(ltas[0] - ltas[2]).max() < 0.2             # a tail 40 dB down is a pause: as if it were not there
    assert (ltas[0] - ltas[1]).min() > 0.5                   # 10 dB down it is part of the sound and counts
    np.testing.assert_allclose(ltas[2], ltas[3], atol=1e-4)   # what lies after `length` left out
    tone_ltas = long_term_spectrum(torch.from_numpy(tone(1000, SR))[None], None, SR)[0]
    assert abs(int(tone_ltas.argmax()) - 1000 * LTAS_BINS // (SR // 2)) <= 1


def test_long_term_spectrum_of_a_clip_shorter_than_the_window():
    out = long_term_spectrum(torch.from_numpy(tone(500, SR, 0.01))[None], None, SR)
    assert out.shape == (1, LTAS_BINS) and torch.isfinite(out).all()


def _two_voices(seed=0, n=60):
    """Two 'voices' (distinct LTAS) that shift every embedding by their own offset; two 'words' across them."""
    rng = np.random.default_rng(seed)
    voice = np.repeat([0, 1], n)
    word = np.tile([0, 1], n)
    ltas = np.where(voice[:, None] == 0, np.linspace(0, -5, 16), np.linspace(-5, 0, 16)) + 0.1 * rng.standard_normal((2 * n, 16))
    words = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])[word]
    offsets = np.array([[0, 0, 6.0, -6.0], [0, 0, -6.0, 6.0]])[voice]
    x = (words + offsets + 0.1 * rng.standard_normal((2 * n, 4))).astype(np.float32)
    return ltas.astype(np.float32), x, voice, word


def test_voice_groups_remove_each_voice_offset_and_keep_the_words():
    ltas, x, voice, word = _two_voices()
    vg = VoiceGroups(2, seed=0).fit(ltas, x, gpu=False)
    groups = vg.group_of(ltas, gpu=False)
    assert len(set(zip(groups, voice))) == 2                    # the groups are the voices
    y = vg(x, ltas, gpu=False)
    for g in (0, 1):
        np.testing.assert_allclose(y[groups == g].mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(y[groups == g].std(0), 1, atol=1e-3)
    # before: the voice decides the nearest neighbour; after: the word does
    def nn_word_agreement(z):
        d = ((z[:, None] - z[None]) ** 2).sum(-1) + np.eye(len(z)) * 1e9
        return (word[d.argmin(1)] == word).mean()
    assert nn_word_agreement(x[:, 2:]) < 0.7 and nn_word_agreement(y) > 0.95


def test_voice_groups_state_round_trip_and_off():
    ltas, x, _, _ = _two_voices(1)
    vg = VoiceGroups(2, seed=0).fit(ltas, x, gpu=False)
    again = VoiceGroups.from_state({k: np.asarray(v) for k, v in vg.state().items()})
    np.testing.assert_array_equal(again(x, ltas, gpu=False), vg(x, ltas, gpu=False))
    off = VoiceGroups(0)
    assert off(x, None) is x and VoiceGroups.from_state(off.state()).groups == 0
    assert VoiceGroups.from_state({}).groups == 0               # clusters fitted before voice groups existed


def test_voice_groups_bad_values_fail_clearly():
    ltas, x, _, _ = _two_voices()
    with pytest.raises(ConfigError, match="voice.groups must be >= 0"):
        VoiceGroups(-1)
    with pytest.raises(ConfigError, match="larger than the number of clips"):
        VoiceGroups(len(x) + 1).fit(ltas, x, gpu=False)
    vg = VoiceGroups(2).fit(ltas, x, gpu=False)
    with pytest.raises(ConfigError, match="carry no long-term spectrum"):
        vg(x, None)
