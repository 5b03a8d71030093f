"""The embedded synthetic set: layout, determinism, the cache, argument checks, and that classes separate."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
from sklearn.neighbors import NearestNeighbors

from audioclust.data.synthetic import CLASSES, clip_rng, generate, make_clip, subdir_name, synthetic_root

SMALL = dict(n_per_class=2, sr=8000, duration=0.5, seed=1)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return root, generate(root, **SMALL)


def _wavs(folder):
    return sorted(folder.glob("*/*.wav"))


def test_layout_count_and_names(small_set):
    root, out = small_set
    assert out == root / "sr8000_d0.5_n2_s1" == root / subdir_name(2, 8000, 0.5, 1)
    assert (out / ".complete").is_file()
    assert len(CLASSES) == len(set(CLASSES)) == 20
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(CLASSES)
    files = _wavs(out)
    assert len(files) == 20 * 2
    expected = {f"{c}/{c}_{i:03d}.wav" for c in CLASSES for i in range(2)}
    assert {f.relative_to(out).as_posix() for f in files} == expected
    assert not [p for p in os.listdir(root) if ".tmp" in p]  # the temporary folder was renamed into place


def test_files_are_pcm16_right_length_finite_and_bounded(small_set):
    for f in _wavs(small_set[1]):
        info = sf.info(f)
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (8000, 1, "PCM_16", 4000), f
        x, _ = sf.read(f)
        assert np.isfinite(x).all() and np.abs(x).max() <= 1 and np.abs(x).max() > 0, f


def test_same_seed_same_bytes_other_seed_other_audio(small_set, tmp_path):
    _, out = small_set
    again = generate(tmp_path / "again", **SMALL)
    other = generate(tmp_path / "other", **{**SMALL, "seed": 2})
    for f in _wavs(out):
        rel = f.relative_to(out)
        assert f.read_bytes() == (again / rel).read_bytes(), rel
        assert not np.array_equal(sf.read(f)[0], sf.read(other / rel)[0]), rel


def test_clip_depends_only_on_seed_class_and_index(tmp_path):
    out = generate(tmp_path, n_per_class=3, sr=8000, duration=0.5, seed=1, classes=("chirp_up", "noise_low"))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["chirp_up", "noise_low"]
    assert out.name != "sr8000_d0.5_n3_s1"  # a class subset gets its own folder
    x, _ = sf.read(out / "noise_low" / "noise_low_002.wav", dtype="float32")
    y = make_clip("noise_low", clip_rng(1, "noise_low", 2), 8000, 0.5)
    assert np.abs(x - y).max() <= 1 / 32768 + 1e-6  # up to PCM_16 quantisation


def test_cache_hit_does_not_rewrite(tmp_path):
    out = generate(tmp_path, **SMALL)
    files = _wavs(out)
    before = {f: f.stat().st_mtime_ns for f in files} | {out / ".complete": (out / ".complete").stat().st_mtime_ns}
    (files[0]).write_bytes(b"changed")  # a regeneration would overwrite this
    assert generate(tmp_path, **SMALL) == out
    assert files[0].read_bytes() == b"changed"
    assert all(f.stat().st_mtime_ns == t for f, t in before.items() if f != files[0])
    assert synthetic_root(tmp_path, 2, 8000, 0.5, 1) == str(out)


def test_incomplete_or_stale_folders_are_regenerated(tmp_path):
    out = tmp_path / subdir_name(**SMALL)
    (out / "low_tone").mkdir(parents=True)  # a renamed set whose run died before `.complete`
    (out / "low_tone" / "junk.wav").write_bytes(b"junk")
    stale = tmp_path / f".{out.name}.tmp"  # the leftover of a killed run
    (stale / "mid_tone").mkdir(parents=True)
    (stale / "mid_tone" / "mid_tone_000.wav").write_bytes(b"partial")
    assert generate(tmp_path, **SMALL) == out
    assert (out / ".complete").is_file() and len(_wavs(out)) == 40
    assert not (out / "low_tone" / "junk.wav").exists() and not stale.exists()


@pytest.mark.parametrize("sr, duration, n", [(16000, 1.0, 16000), (8000, 0.3, 2400), (22050, 0.1, 2205),
                                             (44100, 0.25, 11025), (1000, 0.0125, 12)])
def test_durations(sr, duration, n):
    for i, name in enumerate(CLASSES):
        x = make_clip(name, clip_rng(0, name, i), sr, duration)
        assert x.dtype == np.float32 and x.shape == (n,), name
        assert np.isfinite(x).all() and np.abs(x).max() <= 1, name


@pytest.mark.parametrize("kwargs", [dict(n_per_class=0), dict(n_per_class=-3), dict(n_per_class=1.5),
                                    dict(sr=999), dict(sr=0), dict(duration=0), dict(duration=-1.0),
                                    dict(duration=1e-6), dict(seed=-1), dict(classes=("bark",)),
                                    dict(classes=("low_tone", "bark")), dict(classes=())])
def test_bad_arguments_raise(tmp_path, kwargs):
    with pytest.raises(ValueError, match="synthetic|sample"):
        generate(tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())  # checked before anything is written


def test_make_clip_rejects_unknown_class():
    with pytest.raises(ValueError, match="unknown synthetic class"):
        make_clip("bark", np.random.default_rng(0), 16000, 1.0)


def _feature(x, sr=16000, n=512, hop=256, n_bands=40):
    """Per-clip level-normalised log band energies (log-spaced bands): their mean and spread over frames,
    and each band's energy-weighted time relative to the clip's (which tells a rising sweep from a falling one)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    f = np.fft.rfftfreq(n, 1 / sr)
    edges = np.geomspace(150, sr / 2, n_bands + 1)
    bands = np.stack([power[:, (f >= lo) & (f < hi)].sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    logb = np.log(bands + 1e-10)
    logb -= logb.max()
    frame_t = np.arange(len(logb))[:, None]
    w = np.exp(logb)
    band_t = (w * frame_t).sum(0) / w.sum(0) - (w.sum(1) * frame_t[:, 0]).sum() / w.sum()
    return np.concatenate([logb.mean(0), logb.std(0), band_t / 10])


def test_classes_are_separable_and_jittered():
    clips = [[make_clip(c, clip_rng(0, c, i), 16000, 1.0) for i in range(10)] for c in CLASSES]
    for name, xs in zip(CLASSES, clips):  # jitter: no two clips of a class alike
        assert all(not np.allclose(a, b, atol=1e-3) for k, a in enumerate(xs) for b in xs[k + 1:]), name
        onsets = [int(np.argmax(np.abs(x) > 0.5 * np.abs(x).max())) for x in xs]
        assert len(set(onsets)) > 5, name
    X = np.array([_feature(x) for xs in clips for x in xs])
    X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    y = np.repeat(np.arange(len(CLASSES)), 10)
    # leave-one-out 1-NN: each clip's nearest neighbour among the other 199 (the first neighbour is itself)
    _, idx = NearestNeighbors(n_neighbors=2).fit(X).kneighbors(X)
    assert (idx[:, 0] == np.arange(len(X))).all()
    acc = (y[idx[:, 1]] == y).mean()
    assert acc >= 0.7, f"leave-one-out 1-NN accuracy {acc:.2f} over 20 classes"
