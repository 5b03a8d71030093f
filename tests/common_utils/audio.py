"""Audio the tests make for themselves: tones, chirps, noise, a small labelled folder."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(freq: float, sr: int = 16000, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float, f1: float, sr: int = 16000, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))).astype(np.float32)


def noise(seed: int, sr: int = 16000, seconds: float = 1.0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


def write_tone_folder(root: Path) -> Path:
    """Three labelled kinds of sound, 4 clips each, in class folders under root/clips."""
    rng = np.random.default_rng(0)
    for i in range(4):
        for name, x in (("low", tone(300 * (1 + 0.05 * rng.random()))), ("up", chirp(200, 4000)),
                        ("noise", noise(i))):
            d = root / "clips" / name
            d.mkdir(parents=True, exist_ok=True)
            sf.write(d / f"{name}_{i}.wav", x, 16000)
    return root / "clips"
