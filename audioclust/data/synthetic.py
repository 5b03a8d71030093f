"""The embedded default data set: 20 synthetic sound classes, deterministic by seed, written as WAV files.

Every clip jitters pitch (+-10%), onset, length (0.3-0.9 of the clip), level (-20..0 dB peak) and adds
white background noise (10-30 dB SNR), so that the classes differ clearly on a log-mel spectrogram but are
not trivially separable. Clip `i` of class `c` uses its own generator, `clip_rng(seed, c, i)`, so the files
do not depend on which other classes or how many clips are generated. Labels are the class folder names.
"""
from __future__ import annotations

import os
import shutil
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf

try:  # POSIX: serialise concurrent generations of the same set (e.g. parallel sweep jobs)
    import fcntl
except ImportError:  # pragma: no cover - Windows: still atomic, just not serialised
    fcntl = None

CLASSES = ("low_tone", "mid_tone", "high_tone", "harmonic_low", "harmonic_high", "chirp_up", "chirp_down",
           "am_tone", "fm_tone", "vibrato", "click_slow", "click_fast", "noise_low", "noise_mid", "noise_high",
           "noise_burst", "tone_pair", "square_wave", "decay_pluck", "pulse_tone")
COMPLETE = ".complete"
_NYQ = 0.45  # every partial stays below 0.45 * sr, so low sample rates do not alias


# ---------------------------------------------------------------------------------------------- sounds
def _sine(t, f, rng, sr):
    return np.sin(2 * np.pi * min(f, _NYQ * sr) * t + rng.uniform(0, 2 * np.pi))


def _harmonics(t, f0, ks, rng, sr, tau=None):
    """Sum of partials k*f0 weighted 1/k (those below Nyquist); tau: decay time of partial k is tau/k."""
    x = np.zeros_like(t)
    for k in ks:
        if k == ks[0] or k * f0 < _NYQ * sr:
            x += _sine(t, k * f0, rng, sr) / k * (1.0 if tau is None else np.exp(-t * k / tau))
    return x


def _chirp(t, f0, f1, sr):
    """Exponential sweep f0 -> f1 over the sound (a straight line on a log-frequency axis)."""
    f0, f1 = min(f0, _NYQ * sr), min(f1, _NYQ * sr)
    span, k = max(t[-1], 1 / sr), np.log(f1 / f0)
    return np.sin(2 * np.pi * f0 * span / k * (np.exp(k * t / span) - 1))


def _fm(t, fc, dev, rate, rng, sr):
    fc = min(fc, _NYQ * sr / (1 + dev))
    return np.sin(2 * np.pi * fc * t + dev * fc / rate * np.sin(2 * np.pi * rate * t) + rng.uniform(0, 2 * np.pi))


def _smooth(gate, sr, seconds=0.005):
    w = np.hanning(max(3, int(seconds * sr)))
    return np.convolve(gate.astype(float), w / w.sum(), mode="same")


def _clicks(t, rate, rng, sr):
    x = np.zeros(len(t))
    idx = (np.arange(rng.uniform(0.005, 0.02), t[-1] + 1 / sr, 1 / rate) * sr).astype(int)
    x[idx[idx < len(t)] if len(idx) else [0]] = 1.0
    return np.convolve(x, np.hanning(max(3, int(0.001 * sr) + 2)), mode="same")  # ~1 ms ticks


def _band_noise(t, lo, hi, rng, sr):
    spec = np.fft.rfft(rng.standard_normal(len(t)))
    f = np.fft.rfftfreq(len(t), 1 / sr)
    spec[(f < lo) | (f > min(hi, 0.48 * sr))] = 0
    return np.fft.irfft(spec, len(t))


def _tone_pair(t, f, rng, sr):
    second = _smooth(t >= t[-1] * rng.uniform(0.4, 0.6), sr)
    return _sine(t, f, rng, sr) * (1 - second) + _sine(t, 2.5 * f, rng, sr) * second


def _pulse(t, f, rng, sr):
    gate = np.sin(2 * np.pi * rng.uniform(3, 5) * t - 0.3) > 0
    return _sine(t, f, rng, sr) * _smooth(gate, sr)


def _am(t, f, rng, sr):
    depth = 0.5 + 0.5 * np.cos(2 * np.pi * rng.uniform(6, 10) * t + rng.uniform(0, 2 * np.pi))
    return _sine(t, f, rng, sr) * (1 - 0.85 * depth)


# name -> sound(t, j, rng, sr); t: seconds from the sound's onset, j: the clip's pitch factor in [0.9, 1.1]
_SOUNDS = {
    "low_tone": lambda t, j, rng, sr: _sine(t, 200 * j, rng, sr),
    "mid_tone": lambda t, j, rng, sr: _sine(t, 700 * j, rng, sr),
    "high_tone": lambda t, j, rng, sr: _sine(t, 3300 * j, rng, sr),
    "harmonic_low": lambda t, j, rng, sr: _harmonics(t, 140 * j, range(1, 11), rng, sr),
    "harmonic_high": lambda t, j, rng, sr: _harmonics(t, 520 * j, range(1, 7), rng, sr),
    "chirp_up": lambda t, j, rng, sr: _chirp(t, 250 * j, 4000 * j, sr),
    "chirp_down": lambda t, j, rng, sr: _chirp(t, 4000 * j, 250 * j, sr),
    "am_tone": lambda t, j, rng, sr: _am(t, 1000 * j, rng, sr),
    "fm_tone": lambda t, j, rng, sr: _fm(t, 1600 * j, 0.2, rng.uniform(3, 5), rng, sr),
    "vibrato": lambda t, j, rng, sr: _fm(t, 400 * j, 0.06, rng.uniform(5, 7), rng, sr),
    "click_slow": lambda t, j, rng, sr: _clicks(t, 6 * j, rng, sr),
    "click_fast": lambda t, j, rng, sr: _clicks(t, 35 * j, rng, sr),
    "noise_low": lambda t, j, rng, sr: _band_noise(t, 80 * j, 500 * j, rng, sr),
    "noise_mid": lambda t, j, rng, sr: _band_noise(t, 900 * j, 2200 * j, rng, sr),
    "noise_high": lambda t, j, rng, sr: _band_noise(t, 3500 * j, 7000 * j, rng, sr),
    "noise_burst": lambda t, j, rng, sr: rng.standard_normal(len(t)) * np.exp(-t / (0.06 * j)),
    "tone_pair": lambda t, j, rng, sr: _tone_pair(t, 500 * j, rng, sr),
    "square_wave": lambda t, j, rng, sr: _harmonics(t, 270 * j, range(1, 40, 2), rng, sr),
    "decay_pluck": lambda t, j, rng, sr: _harmonics(t, 330 * j, range(1, 9), rng, sr, tau=0.3),
    "pulse_tone": lambda t, j, rng, sr: _pulse(t, 2400 * j, rng, sr),
}
assert tuple(_SOUNDS) == CLASSES


# ----------------------------------------------------------------------------------------------- clips
def n_samples(sr: int, duration: float) -> int:
    """Length of a clip in samples: round(sr * duration)."""
    n = int(round(sr * duration))
    if n < 1:
        raise ValueError(f"a clip of {duration} s at {sr} Hz has no samples")
    return n


def clip_rng(seed: int, name: str, index: int) -> np.random.Generator:
    """The generator of clip `index` of class `name`: a function of (seed, class index, clip index) only."""
    return np.random.default_rng([int(seed), CLASSES.index(name), int(index)])


def _edges(length: int, sr: int) -> np.ndarray:
    """5 ms fade in/out, so that the sound's edges do not click."""
    fade = max(1, min(int(0.005 * sr), length // 4))
    env = np.ones(length)
    env[:fade], env[length - fade:] = np.linspace(0, 1, fade), np.linspace(1, 0, fade)
    return env


def make_clip(name: str, rng, sr: int, duration: float) -> np.ndarray:
    """One clip of class `name`: float32 mono in [-1, 1], round(sr * duration) samples."""
    if name not in _SOUNDS:
        raise ValueError(f"unknown synthetic class {name!r}; known: {', '.join(CLASSES)}")
    n = n_samples(sr, duration)
    length = max(1, int(round(n * rng.uniform(0.3, 0.9))))
    start = int(rng.integers(0, n - length + 1))
    pitch = rng.uniform(0.9, 1.1)
    sound = _SOUNDS[name](np.arange(length) / sr, pitch, rng, sr) * _edges(length, sr)
    sound *= 10 ** (rng.uniform(-20, 0) / 20) / max(np.abs(sound).max(), 1e-12)
    x = np.zeros(n)
    x[start:start + length] = sound
    noise_rms = np.sqrt(np.mean(sound ** 2)) * 10 ** (-rng.uniform(10, 30) / 20)
    x += rng.standard_normal(n) * noise_rms
    peak = np.abs(x).max()
    return (x / peak if peak > 1 else x).astype(np.float32)


# ------------------------------------------------------------------------------------------ data set
def _integral(value, what: str, low: int) -> int:
    try:
        ok = int(value) == value and value >= low
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"synthetic set: {what} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check(n_per_class, sr, duration, seed, classes) -> tuple:
    n_per_class = _integral(n_per_class, "n_per_class", 1)
    sr = _integral(sr, "sr", 1000)
    seed = _integral(seed, "seed", 0)
    if not isinstance(duration, (int, float, np.number)) or not duration > 0:
        raise ValueError(f"synthetic set: duration must be > 0 seconds, got {duration!r}")
    n_samples(sr, duration)
    names = tuple(dict.fromkeys(str(c) for c in ((classes,) if isinstance(classes, str) else classes)))
    unknown = [c for c in names if c not in CLASSES]
    if unknown or not names:
        raise ValueError(f"unknown synthetic classes {unknown or '(none given)'}; known: {', '.join(CLASSES)}")
    return n_per_class, sr, float(duration), seed, names


def subdir_name(n_per_class: int, sr: int, duration: float, seed: int, classes=CLASSES) -> str:
    """The folder of one parameter set, e.g. `sr16000_d1.0_n30_s0` (plus `_c<hash>` for a class subset)."""
    name = f"sr{int(sr)}_d{float(duration)!r}_n{int(n_per_class)}_s{int(seed)}"
    if set(classes) != set(CLASSES):
        name += f"_c{zlib.crc32(','.join(sorted(classes)).encode()):08x}"
    return name


@contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _write_all(folder: Path, names, n_per_class, sr, duration, seed) -> None:
    for name in names:
        (folder / name).mkdir(parents=True)
        for i in range(n_per_class):
            x = make_clip(name, clip_rng(seed, name, i), sr, duration)
            sf.write(folder / name / f"{name}_{i:03d}.wav", x, sr, subtype="PCM_16")


def _mark_complete(folder: Path, n_files: int) -> None:
    tmp = folder / (COMPLETE + ".tmp")
    tmp.write_text(f"{n_files} files\n")
    os.replace(tmp, folder / COMPLETE)


def generate(root, n_per_class: int = 30, sr: int = 16000, duration: float = 1.0, seed: int = 0,
             classes=CLASSES) -> Path:
    """Write `root/<subdir>/<class>/<class>_<i:03d>.wav` (PCM_16) once and return `root/<subdir>`.

    A cache: a `<subdir>` holding `.complete` is returned as is. Otherwise the set is written into the
    hidden sibling `.<subdir>.tmp` (a stale one is removed first), renamed into place, then marked
    `.complete`, so that an interrupted run never leaves a partial set that looks complete.
    """
    n_per_class, sr, duration, seed, names = _check(n_per_class, sr, duration, seed, classes)
    out = Path(root) / subdir_name(n_per_class, sr, duration, seed, names)
    if (out / COMPLETE).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / f".{out.name}.lock"):
        if (out / COMPLETE).is_file():  # another process finished it while this one waited
            return out
        tmp = out.parent / f".{out.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        _write_all(tmp, names, n_per_class, sr, duration, seed)
        shutil.rmtree(out, ignore_errors=True)  # renamed by a killed run but never marked complete
        os.replace(tmp, out)
        _mark_complete(out, len(names) * n_per_class)
    return out


def synthetic_root(cache_dir, n_per_class, sr, duration, seed) -> str:
    """Hydra-friendly entry (`_target_` or a resolver): generate the full 20-class set under `cache_dir`."""
    return str(generate(cache_dir, n_per_class=n_per_class, sr=sr, duration=duration, seed=seed))
