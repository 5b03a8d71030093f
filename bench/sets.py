"""The labelled data sets the quality benches score on (shared by bench/recipes.py and bench/quality.py): their
folders, the evenly spread subset of --max-files, the generated synthetic set, and labels from file names."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from common import ROOT

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
DRUMS = Path(os.environ.get("DRUMS_DIR", Path.home() / ".cache" / "audioclust-data" / "drums"))   # ../shared/data/drums/build.sh
SFX = Path(os.environ.get("SFX_DIR", Path.home() / ".cache" / "audioclust-data" / "sfx"))   # bench/sfx_data.sh
KITS = Path.home() / ".cache" / "audioclust-data" / "kits"                 # bench/sf2_data.py kits
INSTRUMENTS = Path.home() / ".cache" / "audioclust-data" / "instruments"   # bench/sf2_data.py instruments
PERCUSSION = Path.home() / ".cache" / "audioclust-data" / "percussion"     # bench/sf2_data.py percussion
WESNOTH = Path.home() / ".cache" / "audioclust-data" / "wesnoth"           # bench/wesnoth_data.py
ZEROAD = Path.home() / ".cache" / "audioclust-data" / "zeroad"             # bench/zeroad_data.py
MEGAGLEST = Path.home() / ".cache" / "audioclust-data" / "megaglest"       # bench/megaglest_data.py


def spread(paths, n: int | None):
    """The evenly spread subset that data.max_files selects (same rule as audioclust.data.index)."""
    if not n or n >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, n).round().astype(int)]


def synthetic_root() -> Path:
    """The generated set (20 classes x 30 clips of 1 s at 16 kHz, seed 0), made once under .cache/synthetic."""
    from audioclust.data.synthetic import generate

    return Path(generate(ROOT / ".cache" / "synthetic", sr=16000, duration=1.0, n_per_class=30, seed=0))


def labels_of(paths, pattern: str | None) -> list[str]:
    """Each path's label: the group of `pattern` in its file name, or its parent folder's name (pattern None)."""
    if pattern is None:
        return [Path(p).parent.name for p in paths]
    return [re.search(pattern, Path(p).name).group(1) for p in paths]
