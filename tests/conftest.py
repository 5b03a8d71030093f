"""Shared fixtures: tests make their own audio; FSDD is used from ../shared when present."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
os.environ.setdefault("AUDIOCLUST_ROOT", str(ROOT))
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(autouse=True, scope="session")
def _wandb_data_dir(tmp_path_factory):
    """W&B stages offline artifacts (tables with audio, cluster files) under WANDB_DATA_DIR: keep tests' there."""
    os.environ.setdefault("WANDB_DATA_DIR", str(tmp_path_factory.mktemp("wandb-data")))


def tone(freq: float, sr: int = 16000, seconds: float = 1.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float, f1: float, sr: int = 16000, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds)))).astype(np.float32)


def noise(seed: int, sr: int = 16000, seconds: float = 1.0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(sr * seconds))).astype(np.float32)


@pytest.fixture
def tone_folder(tmp_path) -> Path:
    """Three labelled kinds of sound, 4 clips each, in class folders."""
    rng = np.random.default_rng(0)
    for i in range(4):
        for name, x in (("low", tone(300 * (1 + 0.05 * rng.random()))), ("up", chirp(200, 4000)),
                        ("noise", noise(i))):
            d = tmp_path / "clips" / name
            d.mkdir(parents=True, exist_ok=True)
            sf.write(d / f"{name}_{i}.wav", x, 16000)
    return tmp_path / "clips"


def run_script(*args: str, cwd: Path = ROOT, timeout: int = 600, prefix: tuple = ()) -> subprocess.CompletedProcess:
    """Run train.py / cluster.py as a user would; returns the completed process (output captured).
    `prefix`: a command to run it under (e.g. setpriv), before the interpreter."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([*prefix, sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def needs_fsdd():
    return pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD not found at {FSDD} (clone it or see README)")
