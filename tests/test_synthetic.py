import os

import numpy as np
import pytest
import soundfile as sf
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from audioclust.data.synthetic import CLASSES, generate, make_clip


def test_twenty_classes_written_once_deterministically(tmp_path):
    out = generate(tmp_path / "a", n_per_class=3, sr=8000, duration=0.5, seed=1)
    files = sorted(out.glob("*/*.wav"))
    assert len(CLASSES) == 20 and len(files) == 60 and {f.parent.name for f in files} == set(CLASSES)
    x, sr = sf.read(files[0])
    assert sr == 8000 and len(x) == 4000 and np.isfinite(x).all() and np.abs(x).max() <= 1
    again = generate(tmp_path / "b", n_per_class=3, sr=8000, duration=0.5, seed=1)
    assert all(f.read_bytes() == (again / f.relative_to(out)).read_bytes() for f in files)
    other = generate(tmp_path / "c", n_per_class=3, sr=8000, duration=0.5, seed=2)
    assert files[0].read_bytes() != (other / files[0].relative_to(out)).read_bytes()
    mtime = files[0].stat().st_mtime_ns
    assert generate(tmp_path / "a", n_per_class=3, sr=8000, duration=0.5, seed=1) == out
    assert files[0].stat().st_mtime_ns == mtime  # cached, not rewritten
    assert not [p for p in os.listdir(tmp_path / "a") if ".tmp" in p]


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        generate("/tmp/x", n_per_class=0)
    with pytest.raises(ValueError, match="unknown synthetic classes"):
        generate("/tmp/x", classes=("bark",))


def _feature(x, n=512):
    frames = x[: len(x) // n * n].reshape(-1, n) * np.hanning(n)
    return np.log(np.abs(np.fft.rfft(frames, axis=1)).mean(0) + 1e-6)[::4]


def test_classes_are_distinct_but_jittered():
    rng = np.random.default_rng
    clips = {c: [make_clip(c, rng([0, i, j]), 16000, 1.0) for j in range(10)] for i, c in enumerate(CLASSES)}
    for c, xs in clips.items():
        assert not np.allclose(xs[0], xs[1]), c  # jitter: no two clips alike
    X = np.array([_feature(x) for xs in clips.values() for x in xs])
    y = np.repeat(np.arange(20), 10)
    acc = cross_val_score(KNeighborsClassifier(1), X, y, cv=5).mean()
    assert acc >= 0.6, acc  # a plain average spectrum already separates most classes
