"""Voice groups: the long-term spectrum of a clip, and embeddings standardised within estimated voice groups."""
import numpy as np
import pytest
import torch
from common_utils import noise, tone
from sklearn.metrics import normalized_mutual_info_score as nmi

from audioclust.cluster.methods import KMeans
from audioclust.cluster.pipeline import Clusterer, Stage
from audioclust.cluster.voice import group_stats, standardise
from audioclust.errors import ConfigError
from audioclust.frontend import LTAS_BINS, long_term_spectrum

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


def _voices_and_words(seed=0, voices=3, words=4, n=20):
    """Clips of `words` words said by `voices` voices. A clip's long-term spectrum depends on its word more than
    on its voice (as a vowel colours a digit's spectrum); its embedding follows the word but the voice shifts it."""
    rng = np.random.default_rng(seed)
    voice, word = np.repeat(np.arange(voices), words * n), np.tile(np.repeat(np.arange(words), n), voices)
    ltas = 3 * rng.standard_normal((words, 16))[word] + rng.standard_normal((voices, 16))[voice]
    shift = np.linalg.qr(rng.standard_normal((words, words)))[0][:voices]      # one direction per voice
    x = 3 * np.eye(words)[word] + 2 * shift[voice]
    ltas, x = (a + 0.3 * rng.standard_normal(a.shape) for a in (ltas, x))
    return ltas.astype(np.float32), x.astype(np.float32), voice, word


def _clusterer(groups=3, rounds=2, target="content", reduce="none", k=4):
    km = dict(niter=20, nredo=5, init="kmeans++", gpu=False)
    return Clusterer(Stage("l2", {"method": reduce, "dim": 4}, KMeans(**km)), groups, rounds, target,
                     Stage("l2", {"method": reduce, "dim": 4} if rounds else None, KMeans(**km))), k


def test_group_statistics_standardise_each_group():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((90, 5)) * [1, 2, 3, 4, 5] + 7, np.repeat([0, 1, 2], 30)
    means, scales = group_stats(x, g, 4)                        # group 3 is empty: mean 0, spread 1
    y = standardise(x, g, means, scales)
    for k in range(3):
        np.testing.assert_allclose(y[g == k].mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(y[g == k].std(0), 1, atol=1e-3)
    np.testing.assert_array_equal(means[3], 0)
    np.testing.assert_array_equal(scales[3], 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rounds_find_the_voices_that_the_raw_spectra_hide(seed):
    ltas, x, voice, word = _voices_and_words(seed)
    raw, k = _clusterer(rounds=0, target="voice")
    assert nmi(voice, raw.fit(x, ltas, k)[0]) < 0.5               # raw spectra group by word, not by voice
    cc, k = _clusterer(rounds=2, target="voice")
    assert nmi(voice, cc.fit(x, ltas, k)[0]) > 0.9                 # centred within the clusters: the voices
    words, k = _clusterer(rounds=2, target="content")
    assert nmi(word, words.fit(x, ltas, k)[0]) > 0.9
    plain, k = _clusterer(groups=0)
    assert nmi(word, plain.fit(x, ltas, k)[0]) <= nmi(word, words.fit(x, ltas, k)[0])


@pytest.mark.parametrize("rounds,target,reduce", [(0, "content", "none"), (2, "content", "pca"), (2, "voice", "none")])
def test_fit_then_assign_from_the_stored_state_agree(rounds, target, reduce):
    ltas, x, _, _ = _voices_and_words(1)
    cc, k = _clusterer(rounds=rounds, target=target, reduce=reduce)
    labels, dists, z, centroids = cc.fit(x, ltas, k)
    again = Clusterer.from_state({key: np.asarray(v) for key, v in cc.state().items()}, gpu=False)
    labels2, dists2, z2 = again.assign(x, ltas)
    np.testing.assert_array_equal(labels, labels2)
    np.testing.assert_allclose(dists, dists2, atol=1e-5)
    np.testing.assert_array_equal(again.centroids, centroids)
    assert len(centroids) == (3 if target == "voice" else k) and z.shape == z2.shape
    with pytest.raises(ConfigError, match="carry no long-term spectrum"):
        again.assign(x, None)
