"""Shared fixtures: tests make their own audio (tests/common_utils); FSDD is used from ../shared when present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from common_utils import write_tone_folder

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(autouse=True, scope="session")
def _home(tmp_path_factory):
    """Every run a test starts writes under a session folder, never into the checkout: $AUDIOCLUST_HOME (logs/,
    .cache/: the generated synthetic set, the index cache, the embedding store) unless the test moves it."""
    os.environ.setdefault("AUDIOCLUST_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(autouse=True, scope="session")
def _wandb_data_dir(tmp_path_factory):
    """W&B stages offline artifacts (tables with audio, cluster files) under WANDB_DATA_DIR: keep tests' there."""
    os.environ.setdefault("WANDB_DATA_DIR", str(tmp_path_factory.mktemp("wandb-data")))


@pytest.fixture
def tone_folder(tmp_path) -> Path:
    """Three labelled kinds of sound, 4 clips each, in class folders."""
    return write_tone_folder(tmp_path)
