"""SIGTERM to ONE rank of a 2-rank gloo DDP run (train.py trainer=ddp_cpu) at a random moment of training: the
handler only raises a flag, the ranks agree at a step boundary (audioclust.launch.signals), both stop at the same
step, `last.ckpt` is saved there, the run exits 143 with no rank left behind (every wait is bounded), and the same
command resumes from it and trains each remaining step once. Lightning's own handling broadcasts from inside the
signal handler and stops the signalled rank alone."""
from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from common_utils import ROOT, run_script

pytestmark = pytest.mark.slow
EPOCHS = 30


def args(run: Path, cache: Path) -> list[str]:
    return ["train.py", "debug=default", "trainer=ddp_cpu", "threads=1", "logger=csv", f"trainer.max_epochs={EPOCHS}",
            "trainer.enable_progress_bar=false", "callbacks.step_checkpoint.every_n_train_steps=1000",
            f"paths.cache_dir={cache}", f"hydra.run.dir={run}"]


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def logged_steps(run: Path) -> list[list[int]]:
    """Per attempt (CSV logger version), the sorted steps that logged a training loss."""
    out = []
    for v in sorted((run / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        with open(v / "metrics.csv", newline="") as f:
            out.append(sorted({int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss_step")}))
    return out


@pytest.mark.parametrize("rank, seed", [(0, 0), (1, 1)])
def test_sigterm_to_one_rank_stops_all_at_one_step_and_resumes(tmp_path, rank, seed):
    run = tmp_path / "run"
    cmd = args(run, tmp_path / "c")
    proc = subprocess.Popen([sys.executable, *cmd], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    rank1 = None
    try:
        deadline = time.monotonic() + 180
        while not (run / "checkpoints" / "last.ckpt").is_file():   # epoch 0 done: both ranks are training
            assert proc.poll() is None and time.monotonic() < deadline, "no first checkpoint"
            time.sleep(0.05)
        rank1 = next(p for p in children(proc.pid) if "train.py" in Path(f"/proc/{p}/cmdline").read_text())
        delay = float(np.random.default_rng(seed).uniform(0, 3))   # in a step, between steps or in validation
        time.sleep(delay)
        os.kill(proc.pid if rank == 0 else rank1, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        deadline = time.monotonic() + 30
        while alive(rank1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(rank1), "rank 1 did not exit"
    finally:
        for pid in (proc.pid, rank1):
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
    log = (run / "debug.log").read_text()
    assert proc.returncode == 128 + signal.SIGTERM, (err[-3000:], log[-3000:])
    assert "Traceback" not in err, err[-3000:]
    stops = dict((int(r), (int(s), where)) for s, r, where in
                 re.findall(r"SIGTERM: all ranks stop at step (\d+) \(rank (\d), (signalled \w+)\)", log))
    assert stops.keys() == {0, 1} and stops[0][0] == stops[1][0], stops   # both ranks, at the same step
    assert stops[rank][1] == "signalled here" and stops[1 - rank][1] == "signalled elsewhere", stops
    step = stops[0][0]
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == step and "SIGTERM: saved" in log
    p = run_script(*cmd, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    log = (run / "debug.log").read_text()
    assert f"resuming from {run / 'checkpoints' / 'last.ckpt'}" in log
    total = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 0 < step < total   # stopped during training, not at its end
    steps = logged_steps(run)   # every step is logged (debug: log_every_n_steps=1), but the one that saved
    assert len(steps) == 2 and steps[0][0] == 0 and max(steps[0]) < step and steps[1] == list(range(step, total)), (step, steps)
    print(f"\nSIGTERM to rank {rank} {delay:.2f} s after epoch 0: both ranks stopped at step {step} of {total}; "
          f"the rerun trained steps {steps[1][0]}..{steps[1][-1]}")
