"""Two-process DDP on CPU (gloo) through the same train.py: one model, one W&B run (rank 0 only)."""
import glob

import pytest
import torch
from common_utils import run_script
from common_utils.wandb_records import read_run

pytestmark = pytest.mark.slow


def test_ddp_cpu_two_processes(tmp_path):
    run = tmp_path / "run"
    p = run_script("train.py", "debug=default", "trainer=ddp_cpu", "logger=wandb", f"paths.cache_dir={tmp_path}/c",
                   "trainer.enable_progress_bar=false", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    text = p.stdout + p.stderr
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in text and "Starting with 2 processes" in text
    assert torch.load(run / "model.pt", weights_only=True)["state_dict"]
    runs = glob.glob(f"{run}/wandb/offline-run-*")
    assert len(runs) == 1  # rank 1 logs nothing
    assert len(read_run(runs[0])["history"]["val/loss"]) == 2
    assert not list(tmp_path.glob("**/train_ddp_process_1*"))  # no per-rank output dirs left behind
