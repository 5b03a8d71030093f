"""A local Hydra multirun: every job runs, returns its metric, and lands in one W&B group, finished."""
import glob

import pytest
from common_utils import run_script
from common_utils.wandb_records import read_run

pytestmark = pytest.mark.slow


def test_multirun_sweep_one_wandb_group(tmp_path):
    p = run_script("train.py", "-m", "debug=default", "logger=wandb", "model.net.code_channels=2,4",
                   f"paths.cache_dir={tmp_path}/c", "trainer.enable_progress_bar=false",
                   f"hydra.sweep.dir={tmp_path}/sweep")
    assert p.returncode == 0, p.stderr[-3000:]
    runs = sorted(glob.glob(f"{tmp_path}/sweep/*/wandb/offline-run-*"))
    assert len(runs) == 2
    records = [read_run(r) for r in runs]
    groups = {r["run"]["group"] for r in records}
    assert groups == {"debug-sweep"}   # <task_name>-<sweep dir name>: one group for the whole sweep
    assert [r["config"]["model"]["net"]["code_channels"] for r in records] == [2, 4]
    assert all(r["kinds"].get("exit") == 1 and r["history"]["val/loss"] for r in records)
    assert sorted(glob.glob(f"{tmp_path}/sweep/*/model.pt")) == [f"{tmp_path}/sweep/{i}/model.pt" for i in (0, 1)]
