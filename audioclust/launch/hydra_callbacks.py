"""Hydra callbacks: hooks that run in the launching process, around a run or a whole sweep."""
from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback


class EnsureDirs(Callback):
    """Create folders a sweeper needs before the first job, e.g. that of an Optuna sqlite study."""

    def __init__(self, dirs: list[str]) -> None:
        self.dirs = [Path(d) for d in dirs]

    def on_multirun_start(self, config, **kwargs) -> None:
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
