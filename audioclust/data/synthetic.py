"""The embedded default data set: 20 synthetic sound classes, deterministic by seed, written as WAV files.

Each clip jitters pitch (+-10%), onset, duration (0.3-0.9 of the clip), level (-20..0 dB) and background
noise (10-30 dB SNR), so that clustering is not trivial. Labels are the class folder names.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

CLASSES = ("low_tone", "mid_tone", "high_tone", "harmonic_low", "harmonic_high", "chirp_up", "chirp_down",
           "am_tone", "fm_tone", "vibrato", "click_slow", "click_fast", "noise_low", "noise_mid", "noise_high",
           "noise_burst", "tone_pair", "square_wave", "decay_pluck", "pulse_tone")


def _band_noise(rng, n, sr, lo, hi):
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, n)


def _sound(name: str, rng, t: np.ndarray, sr: int) -> np.ndarray:
    j = rng.uniform(0.9, 1.1)  # pitch jitter
    n, dur = len(t), t[-1] if len(t) else 0.0
    sin = lambda f: np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))  # noqa: E731
    if name in ("low_tone", "mid_tone", "high_tone"):
        return sin({"low_tone": 220, "mid_tone": 880, "high_tone": 3000}[name] * j)
    if name.startswith("harmonic"):
        f0 = (150 if name == "harmonic_low" else 600) * j
        return sum(sin(f0 * h) / h for h in range(1, 7))
    if name.startswith("chirp"):
        f0, f1 = (300 * j, 4000 * j) if name == "chirp_up" else (4000 * j, 300 * j)
        return np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * max(dur, 1e-3))))
    if name == "am_tone":
        return sin(1000 * j) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(6, 10) * t))
    if name == "fm_tone":
        return np.sin(2 * np.pi * 1500 * j * t + 75 * np.sin(2 * np.pi * 4 * t))  # +-300 Hz at 4 Hz
    if name == "vibrato":
        return np.sin(2 * np.pi * 500 * j * t + 2 * np.sin(2 * np.pi * rng.uniform(5, 7) * t))
    if name.startswith("click"):
        rate = (8 if name == "click_slow" else 40) * j
        x = np.zeros(n)
        x[(np.arange(0, dur, 1 / rate) * sr).astype(int)] = 1.0
        return np.convolve(x, np.hanning(16), mode="same")
    if name.startswith("noise_") and name != "noise_burst":
        lo, hi = {"noise_low": (50, 500), "noise_mid": (1000, 2500), "noise_high": (4000, 7000)}[name]
        return _band_noise(rng, n, sr, lo * j, min(hi * j, sr / 2 - 1))
    if name == "noise_burst":
        return rng.standard_normal(n) * np.exp(-t / 0.03)
    if name == "tone_pair":
        return np.where(t < dur / 2, sin(400 * j), sin(1200 * j))
    if name == "square_wave":
        return np.sign(sin(250 * j)) * 0.6
    if name == "decay_pluck":
        return sum(sin(330 * j * h) / h for h in range(1, 5)) * np.exp(-t / 0.12)
    if name == "pulse_tone":
        return sin(2000 * j) * (np.sin(2 * np.pi * rng.uniform(3, 5) * t) > 0)
    raise ValueError(f"unknown synthetic class {name!r}; known: {', '.join(CLASSES)}")


def make_clip(name: str, rng, sr: int, duration: float) -> np.ndarray:
    """One clip: the class's sound at a random onset, length and level, over background noise."""
    n = int(round(sr * duration))
    length = max(int(n * rng.uniform(0.3, 0.9)), 8)
    start = int(rng.integers(0, n - length + 1))
    sound = _sound(name, rng, np.arange(length) / sr, sr)
    fade = max(1, min(64, length // 4))  # short fades: no clicks at the edges
    env = np.ones(length)
    env[:fade], env[length - fade:] = np.linspace(0, 1, fade), np.linspace(1, 0, fade)
    sound = sound * env
    sound = sound / (np.abs(sound).max() + 1e-9) * 10 ** (rng.uniform(-20, 0) / 20)
    x = np.zeros(n)
    x[start:start + length] = sound
    rms = np.sqrt(np.mean(sound ** 2)) + 1e-9
    x += rng.standard_normal(n) * rms * 10 ** (-rng.uniform(10, 30) / 20)
    return np.clip(x, -1, 1).astype(np.float32)


def generate(root, n_per_class: int = 30, sr: int = 16000, duration: float = 1.0, seed: int = 0,
             classes=CLASSES) -> Path:
    """Write `root/<params>/<class>/<class>_<i>.wav` once (a cache); return the `<params>` folder."""
    if n_per_class < 1 or sr < 1000 or duration <= 0:
        raise ValueError(f"synthetic set needs n_per_class >= 1, sr >= 1000, duration > 0 "
                         f"(got {n_per_class}, {sr}, {duration})")
    unknown = set(classes) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown synthetic classes {sorted(unknown)}; known: {', '.join(CLASSES)}")
    out = Path(root) / f"sr{sr}_d{duration}_n{n_per_class}_s{seed}_c{len(classes)}"
    if (out / ".complete").is_file():
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    for ci, name in enumerate(classes):
        (tmp / name).mkdir(parents=True)
        for i in range(n_per_class):
            rng = np.random.default_rng([seed, CLASSES.index(name), i])
            sf.write(tmp / name / f"{name}_{i:03d}.wav", make_clip(name, rng, sr, duration), sr, subtype="PCM_16")
    (tmp / ".complete").write_text("ok\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
