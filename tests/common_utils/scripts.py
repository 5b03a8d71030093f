"""Running train.py / cluster.py as a user would, and where the shared data sets are."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"


def run_script(*args: str, cwd: Path = ROOT, timeout: int = 600, prefix: tuple = ()) -> subprocess.CompletedProcess:
    """Run train.py / cluster.py as a user would; returns the completed process (output captured).
    `prefix`: a command to run it under (e.g. setpriv), before the interpreter."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([*prefix, sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def needs_fsdd():
    return pytest.mark.skipif(not FSDD.is_dir(), reason=f"FSDD not found at {FSDD} (clone it or see README)")
