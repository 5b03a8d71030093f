"""Outputs others can read: every file a run writes (atomically: a temp file renamed) has the mode the umask gives,
0644 under umask 022 and 0664 under 002, as any program's, not mkstemp's private 0600."""
from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from common_utils import ROOT, noise, tone

from audioclust import io

UMASKS = [0o022, 0o002]


@contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("mask", UMASKS)
def test_temp_beside_makes_files_and_folders_with_the_umasks_mode(tmp_path, mask):
    with _umask(mask):
        made = [io.temp_beside(tmp_path / "out.csv") for _ in range(3)] + [io.temp_beside(tmp_path / "d", folder=True)]
    assert len({p.name for p in made}) == 4 and all(p.parent == tmp_path and p.name.startswith(".") for p in made)
    assert [_mode(p) for p in made] == [0o666 & ~mask] * 3 + [0o777 & ~mask]
    assert all(p.is_file() and p.stat().st_size == 0 for p in made[:3]) and made[3].is_dir()


def test_temp_beside_never_takes_an_existing_name_or_follows_a_link(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere"
    taken = tmp_path / ".out.csv.aaaaaaaa.tmp"
    taken.symlink_to(target)   # a link planted where the first temp name will be
    names = iter(["aaaaaaaa", "bbbbbbbb"])
    monkeypatch.setattr(io.secrets, "token_hex", lambda n: next(names))
    tmp = io.temp_beside(tmp_path / "out.csv")
    assert tmp.name == ".out.csv.bbbbbbbb.tmp" and not target.exists() and taken.is_symlink()


@pytest.mark.parametrize("mask", UMASKS)
def test_every_atomic_writer_follows_the_umask(tmp_path, mask):
    """io's writers, the checkpoint IO (last.ckpt, model.pt), the plots and the cluster folders of an export."""
    from audioclust.launch.checkpoint_io import AtomicCheckpointIO
    from audioclust.report.export import Assignment, write_cluster_folders
    from audioclust.report.plots import plot_sizes

    sf.write(tmp_path / "a.wav", tone(440), 16000)
    with _umask(mask):
        io.write_text(tmp_path / "out" / "t.txt", "x")
        io.write_json(tmp_path / "out" / "m.json", {"a": 1})
        io.write_npy(tmp_path / "out" / "e.npy", np.zeros((2, 3), np.float32))
        io.write_csv(tmp_path / "out" / "a.csv", [{"x": 1}], ["x"])
        io.save_torch(tmp_path / "out" / "model.pt", {"w": torch.zeros(2)})
        AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(2)}, tmp_path / "out" / "last.ckpt")
        with io.atomic_path(tmp_path / "out" / "shard.npy") as tmp, open(tmp, "wb") as f:   # as embed/shards.py writes
            np.save(f, np.zeros(3))
        plot_sizes(np.array([0, 0, 1]), tmp_path / "out" / "sizes.png")
        write_cluster_folders([Assignment(str(tmp_path / "a.wav"), 0.0, 1.0, 0, 0.1, "")], tmp_path / "out", cut=True)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(files) == 10
    assert {str(p.relative_to(tmp_path)): _mode(p) for p in files} == {
        str(p.relative_to(tmp_path)): 0o666 & ~mask for p in files}
    folders = [p for p in (tmp_path / "out").rglob("*") if p.is_dir()]
    assert folders and all(_mode(p) == 0o777 & ~mask for p in folders)


@pytest.mark.slow
@pytest.mark.parametrize("mask", UMASKS)
def test_a_cluster_run_leaves_every_output_with_the_umasks_mode(tmp_path, mask):
    """audioclust-cluster as a user runs it, from a shell with `umask` set: plots, explorer, exports (cut windows),
    W&B's offline run; every file under the output folder is 0o666 & ~umask, every folder 0o777 & ~umask."""
    pytest.importorskip("resemblyzer", reason="encoder=speaker needs its extra (docs/encoders.md)")
    root = tmp_path / "clips"
    root.mkdir()
    for i in range(3):
        sf.write(root / f"tone{i}.wav", tone(300 + 60 * i), 16000)
        sf.write(root / f"noise{i}.wav", noise(i), 16000)
    out = tmp_path / "out"
    args = [sys.executable, "cluster.py", "encoder=speaker", f"data.root={root}", "kmeans.k=2", "threads=1",
            "export.folders=true", "export.cut=true", "export.raven=true", f"paths.cache_dir={tmp_path}/cache",
            f"hydra.run.dir={out}"]
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0", WANDB_MODE="offline")
    p = subprocess.run(f"umask {mask:03o} && exec {shlex.join(args)}", shell=True, cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    entries = [Path(d) / n for d, dirs, files in os.walk(out) for n in dirs + files]
    files = [e for e in entries if e.is_file() and not e.is_symlink()]
    names = {e.name for e in files}
    assert {"assignments.csv", "clusters.parquet", "metrics.json", "explorer.html", "map.png", "embeddings.npy"} <= names
    assert any(e.suffix == ".wav" for e in files) and any(".wandb" in e.name for e in files)   # cut windows, W&B
    wrong = {str(e.relative_to(out)): oct(_mode(e)) for e in files if _mode(e) != 0o666 & ~mask}
    wrong |= {str(e.relative_to(out)): oct(_mode(e)) for e in entries if e.is_dir() and not e.is_symlink()
              and _mode(e) != 0o777 & ~mask}
    assert not wrong, (oct(mask), wrong)
