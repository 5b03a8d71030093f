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


def blob_clips(root: Path, kinds, rng, per_kind: int = 10, name=lambda kind, i: f"{kind}_{i}.wav"):
    """audioclust.Embeddings of per_kind short noise files of each kind under root/clips/<kind>/, their vectors one
    16-d blob per kind (labelled by kind): a fit's worth of rows without running an encoder."""
    import audioclust

    centres = rng.normal(scale=6, size=(len(kinds), 16))
    paths, vectors, labels = [], [], []
    for k, kind in enumerate(kinds):
        (root / "clips" / kind).mkdir(parents=True)
        for i in range(per_kind):
            p = root / "clips" / kind / name(kind, i)
            sf.write(p, rng.normal(scale=0.1, size=8000).astype(np.float32), 8000)
            paths.append(str(p))
            vectors.append(centres[k] + rng.normal(size=16))
            labels.append(kind)
    n = len(paths)
    return audioclust.Embeddings(tuple(paths), np.zeros(n), np.ones(n), np.asarray(vectors, np.float32), "speech",
                                 label=tuple(labels))


def csv_rows(path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
