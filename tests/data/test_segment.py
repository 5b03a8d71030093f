"""Activity detector: synthetic recordings (noise + tone bursts / chirps at known times, several SNRs)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from audioclust.data.segment import SegmentConfig, detect, detect_file, event_windows
from audioclust.errors import ConfigError

SR = 8000


def _noise(seconds: float, rms: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, rms, int(seconds * SR))


def _burst(seconds: float, rms: float, kind: str, rng) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "tone":
        x = np.sin(2 * np.pi * rng.uniform(400, 3000) * t)
    else:  # linear chirp
        f0, f1 = rng.uniform(300, 1000), rng.uniform(1500, 3500)
        x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))
    ramp = np.minimum(1, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades, no clicks
    return x * ramp * rms * math.sqrt(2)


def _recording(snr_db: float, seconds: float = 120, n: int = 20, seed: int = 0):
    """Noise at rms 0.01 plus n bursts (0.2-1.0 s, >= 1.5 s apart) at snr_db; returns wave and true events."""
    rng = np.random.default_rng(seed)
    x = _noise(seconds, 0.01, seed + 1)
    onsets = np.sort(rng.choice(np.arange(2, seconds - 3, 2.5), n, replace=False) + rng.uniform(0, 0.5, n))
    truth = []
    for i, on in enumerate(onsets):
        d = rng.uniform(0.2, 1.0)
        b = _burst(d, 0.01 * 10 ** (snr_db / 20), "tone" if i % 2 else "chirp", rng)
        s = int(on * SR)
        x[s: s + len(b)] += b
        truth.append((s / SR, (s + len(b)) / SR))
    return x, truth


def _scores(events, truth, tol=0.1, pad=0.0):
    hit = sum(any(abs((a + pad) - t0) <= tol for a, _ in events) for t0, _ in truth)
    correct = sum(any(a < t1 and b > t0 for t0, t1 in truth) for a, b in events)
    return hit / len(truth), correct / max(len(events), 1)


@pytest.mark.parametrize("bands,snr_db,min_recall", [
    (1, 20, 1.0), (1, 10, 1.0), (1, 6, 0.95),                  # broadband energy: fine down to ~6 dB
    (8, 20, 1.0), (8, 6, 1.0), (8, 3, 0.95), (8, 0, 0.8),     # bands: tones and chirps are narrow-band
])
def test_onsets_recall_precision(bands, snr_db, min_recall):
    x, truth = _recording(snr_db, seed=snr_db)
    cfg = SegmentConfig(pad_seconds=0.0, bands=bands)
    seg = detect(x, SR, cfg)
    recall, precision = _scores(seg.events, truth)
    assert recall >= min_recall, (snr_db, recall, seg.events)
    assert precision >= 0.95, (snr_db, precision)
    seg.check()


@pytest.mark.parametrize("bands", [1, 8])
def test_pure_noise_has_no_events(bands):
    seg = detect(_noise(120, 0.01, 3), SR, SegmentConfig(bands=bands))
    assert len(seg.events) <= 1  # at most a rare fluke over 4800 frames
    assert math.isclose(seg.event_seconds + seg.quiet_seconds, 120.0)


def test_digital_silence_and_empty():
    seg = detect(np.zeros(SR * 5), SR, SegmentConfig())
    assert seg.events == [] and len(seg.quiet) == 1 and seg.quiet[0].seconds == 5.0
    seg = detect(np.zeros(0), SR, SegmentConfig())
    assert seg.events == [] and seg.quiet == [] and seg.n_samples == 0
    seg.check()


def test_floor_tracks_slow_background_change():
    """Background rises 20 dB over the recording; a fixed global floor would call the whole loud half an event."""
    n = SR * 240
    level = 0.003 * 10 ** (np.linspace(0, 20, n) / 20)
    x = np.random.default_rng(5).normal(0, 1, n) * level
    for on in (30.0, 200.0):   # bursts 12 dB over the local background
        s = int(on * SR)
        b = _burst(0.5, 1.0, "tone", np.random.default_rng(1))
        x[s: s + len(b)] += b * level[s] * 4
    seg = detect(x, SR, SegmentConfig(pad_seconds=0.0))
    assert len(seg.events) == 2, seg.events
    assert [round(a, 1) for a, _ in seg.events] == [30.0, 200.0]
    glob = detect(x, SR, SegmentConfig(pad_seconds=0.0, floor_window_seconds=0))
    assert glob.event_seconds > 30  # the global floor fails on this recording


@pytest.mark.parametrize("bands", [1, 8])
def test_background_changing_at_the_start_is_not_an_event(bands):
    """The level falls 6 dB over the first 30 s and rises 6 dB over the last 30 s: a floor window shifted to fit
    inside the recording lags it there (5-18 s of false event per end). (The floor follows changes up to
    ~0.2 dB/s with the default 30 s window; faster ones, like a passing plane, come out as events.)"""
    n = SR * 240
    level = 0.01 * 10 ** (np.interp(np.arange(n) / SR, [0, 30, 210, 240], [6, 0, 0, 6]) / 20)
    for seed in (11, 12):
        x = np.random.default_rng(seed).normal(0, 1, n) * level
        assert detect(x, SR, SegmentConfig(bands=bands)).events == []


def _tones(spec, seconds=20.0):
    """Noise plus loud tones at (onset, duration) pairs."""
    x = _noise(seconds, 0.005, 9)
    for on, d in spec:
        s = int(round(on * SR))
        x[s: s + int(round(d * SR))] += 0.1 * np.sin(2 * np.pi * 1000 * np.arange(int(round(d * SR))) / SR)
    return x


# the boundary tests use the broadband energy (bands=1): frame-exact edges; in band mode the 3-frame smoothing of
# the band energies widens an event by up to one frame at each end
@pytest.mark.parametrize("bands,tol", [(1, 0.0), (8, 0.026)])
def test_merge_gap(bands, tol):
    x = _tones([(5.0, 0.4), (5.6, 0.4), (10.0, 0.4), (11.0, 0.4)])  # gaps 0.2 s and 0.6 s
    seg = detect(x, SR, SegmentConfig(pad_seconds=0.0, merge_gap_seconds=0.3, bands=bands))
    want = [(5.0, 6.0), (10.0, 10.4), (11.0, 11.4)]
    assert len(seg.events) == 3
    for (a, b), (wa, wb) in zip(seg.events, want):
        assert wa - tol - 1e-9 <= a <= wa + 1e-9 and wb - 1e-9 <= b <= wb + tol + 1e-9, seg.events
    seg = detect(x, SR, SegmentConfig(pad_seconds=0.0, merge_gap_seconds=0.0, bands=bands))
    assert len(seg.events) == 4


def test_min_length_goes_to_quiet_with_reason():
    x = _tones([(5.0, 0.05), (10.0, 0.5)])
    cfg = SegmentConfig(pad_seconds=0.0, min_event_seconds=0.1, bands=1)
    seg = detect(x, SR, cfg)
    assert [(round(a, 2), round(b, 2)) for a, b in seg.events] == [(10.0, 10.5)]
    short = [q for q in seg.quiet if q.reason.startswith("shorter than min_event_seconds")]
    assert len(short) == 1 and (round(short[0].onset, 2), round(short[0].offset, 2)) == (5.0, 5.05)
    assert {q.reason for q in seg.quiet} == {"below noise floor + 6 dB", "shorter than min_event_seconds (0.1 s)"}
    seg.check()
    assert len(detect(x, SR, SegmentConfig(pad_seconds=0.0, min_event_seconds=0.0, bands=1)).events) == 2


def test_padding_clips_and_joins():
    x = _tones([(0.05, 0.3), (5.0, 0.3), (5.5, 0.3), (19.8, 0.2)])
    seg = detect(x, SR, SegmentConfig(pad_seconds=0.2, merge_gap_seconds=0.0, bands=1))
    # the first is clipped at 0, the middle two join after padding, the last is clipped at the end
    ev = [(round(a, 3), round(b, 3)) for a, b in seg.events]
    assert ev[0][0] == 0.0 and ev[-1][1] == 20.0
    assert len(ev) == 3 and ev[1] == (4.8, 6.0)
    seg.check()


@pytest.mark.parametrize("seconds", [20.0, 20.0123, 7.3])
def test_exact_accounting(seconds):
    rng = np.random.default_rng(int(seconds * 10))
    x = _tones([(1.0, 0.05), (2.0, 0.5), (2.6, 0.04), (4.0, 1.0)], seconds=seconds)
    x += rng.normal(0, 0.001, len(x))
    seg = detect(x, SR, SegmentConfig(pad_seconds=0.07, merge_gap_seconds=0.1))
    seg.check()
    ev = int(np.sum(np.diff(seg.event_samples, axis=1)))
    qu = int(np.sum(np.diff(seg.quiet_samples, axis=1)))
    assert ev + qu == len(x)  # count in = count out, in samples
    assert math.isclose(math.fsum(b - a for a, b in seg.events) + math.fsum(q.seconds for q in seg.quiet),
                        len(x) / SR, abs_tol=1e-9)


@pytest.mark.parametrize("bands,chunk", [(8, 7.0), (8, 1.0), (8, 0.013), (1, 0.013)])
def test_chunked_equals_whole(tmp_path, bands, chunk):
    x, truth = _recording(10, seconds=45, n=8, seed=4)
    x = np.clip(x, -1, 1).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, np.stack([x, x], axis=1), SR, subtype="FLOAT")   # stereo file: mono mix like load()
    cfg = SegmentConfig(bands=bands)
    whole = detect(x, SR, cfg)
    chunked = detect_file(path, SR, cfg, chunk_seconds=chunk)
    assert np.array_equal(whole.event_samples, chunked.event_samples)
    assert np.array_equal(whole.quiet_samples, chunked.quiet_samples) and whole.quiet_reasons == chunked.quiet_reasons
    np.testing.assert_allclose(whole.frame_db, chunked.frame_db, atol=1e-3)
    assert len(whole.events) == 8


def test_detect_file_resamples(tmp_path):
    x, truth = _recording(20, seconds=30, n=6, seed=2)
    import soxr

    path = tmp_path / "at16k.wav"
    sf.write(path, np.clip(soxr.resample(x, SR, 16000), -1, 1), 16000, subtype="PCM_16")
    seg = detect_file(path, SR, SegmentConfig(pad_seconds=0.0), chunk_seconds=5)
    assert abs(seg.n_samples - len(x)) <= 1
    recall, precision = _scores(seg.events, truth, tol=0.05)
    assert recall == 1.0 and precision == 1.0


def test_event_windows():
    # short event: one window centred on it; long: windows from onset every hop, the last ending at the offset
    w = event_windows([(10.0, 10.4), (20.0, 23.5), (0.1, 0.3)], clip_seconds=1.0, hop_seconds=1.0)
    assert w[0] == [pytest.approx(9.7)]
    assert w[1] == [20.0, 21.0, 22.0, 22.5]
    assert w[2] == [0.0]  # clipped at the start of the recording
    w = event_windows([(20.0, 22.0)], clip_seconds=1.0, hop_seconds=0.5)
    assert w[0] == [20.0, 20.5, 21.0]
    assert event_windows([(20.0, 22.0)], clip_seconds=1.0)[0] == [20.0, 21.0]
    assert event_windows([(9.8, 10.0)], clip_seconds=1.0, duration=10.0)[0] == [9.0]
    assert event_windows([(0.0, 0.2)], clip_seconds=1.0, duration=0.5)[0] == [0.0]
    with pytest.raises(ConfigError, match="hop_seconds"):
        event_windows([(0, 1)], 1.0, 2.0)
    with pytest.raises(ConfigError, match="clip_seconds"):
        event_windows([(0, 1)], 0)


@pytest.mark.parametrize("kw,msg", [
    ({"frame_seconds": 0}, "frame_seconds must be in"),
    ({"threshold_db": -1}, "threshold_db must be > 0"),
    ({"hysteresis_db": 7}, "hysteresis_db must be >= 0 and below threshold_db"),
    ({"floor_percentile": 100}, "floor_percentile must be in"),
    ({"floor_window_seconds": -1}, "floor_window_seconds must be >= 0"),
    ({"floor_window_seconds": 0.1}, "must span at least 10 frames"),
    ({"pad_seconds": -0.1}, "pad_seconds must be >= 0"),
    ({"merge_gap_seconds": -1}, "merge_gap_seconds must be >= 0"),
    ({"min_event_seconds": float("nan")}, "min_event_seconds must be a finite number"),
    ({"highpass_hz": "100"}, "highpass_hz must be a finite number"),
    ({"bands": 0}, "bands must be an integer in"),
    ({"bands": 2.5}, "bands must be an integer in"),
    ({"threshold_db": True}, "threshold_db must be a finite number"),
    ({"spread_factor": -1}, "spread_factor must be >= 0"),
])
def test_bad_config(kw, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        SegmentConfig(**kw)
    assert "\n" not in str(e.value)


def test_bad_sample_rate_and_highpass():
    with pytest.raises(ConfigError, match="highpass_hz"):
        detect(np.zeros(100), 150, SegmentConfig(highpass_hz=100))
    with pytest.raises(ConfigError, match="sample rate"):
        detect(np.zeros(100), 0, SegmentConfig())


def _moving_background(seconds: float, seed: int) -> np.ndarray:
    """Noise whose level jumps every 50 ms by a random amount (std 4 dB): a background that moves by itself, like
    rain or a gusty wind, against which a fixed margin over the floor fires all the time."""
    rng = np.random.default_rng(seed)
    step = int(0.05 * SR)
    level = 10 ** (rng.normal(0, 4, int(seconds * SR) // step + 1) / 20)
    return _noise(seconds, 0.01, seed + 1) * np.repeat(level, step)[: int(seconds * SR)]


def test_novelty_follows_a_moving_background():
    """spread_factor (data/segment=novelty) asks a band to stand out of its own background's spread: over a
    background that moves by 4 dB (std) it keeps a fraction of what the energy rule keeps, and still finds loud
    events; over steady noise it finds what the energy rule finds."""
    rng = np.random.default_rng(5)
    x = _moving_background(120, 5)
    truth = []
    for i, on in enumerate(np.arange(3, 115, 6.0)):
        b = _burst(0.5, 0.01 * 10 ** (20 / 20), "tone" if i % 2 else "chirp", rng)
        x[int(on * SR): int(on * SR) + len(b)] += b
        truth.append((on, on + 0.5))
    energy = detect(x, SR, SegmentConfig(pad_seconds=0.0))
    novelty = detect(x, SR, SegmentConfig(pad_seconds=0.0, spread_factor=3.0))
    novelty.check()
    assert novelty.event_seconds < 0.5 * energy.event_seconds, (novelty.event_seconds, energy.event_seconds)
    assert _scores(novelty.events, truth)[0] >= 0.9
    assert "median + 3 sigma" in novelty.quiet[0].reason
    assert SegmentConfig(spread_factor=3.0).describe_event() == "above noise floor + 6 dB and background median + 3 sigma"
    steady, truth = _recording(10, seed=3)
    a, b = (detect(steady, SR, SegmentConfig(pad_seconds=0.0, spread_factor=f)) for f in (0.0, 3.0))
    assert _scores(b.events, truth)[0] >= _scores(a.events, truth)[0] - 0.05
    assert _scores(b.events, truth)[1] >= 0.95
