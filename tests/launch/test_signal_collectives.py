"""Host-side collectives per training step of a 2-rank gloo DDP fit: with the signal callbacks (SlurmRequeue +
SigtermCheckpoint) one all_reduce every 10 steps for both; Lightning alone broadcasts rank 0's SIGTERM flag before
every step. The gradient all-reduce (inside DDP's reducer, not torch.distributed's Python functions) is not counted."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from common_utils import ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, sys
    import lightning as L
    import torch.distributed as dist
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.demos.boring_classes import BoringModel
    from audioclust.launch.callbacks import SigtermCheckpoint
    from audioclust.launch.slurm import SlurmRequeue

    class Count(Callback):
        '''The torch.distributed calls made from one batch end to the next, per global step.'''
        def __init__(self):
            self.calls, self.steps = [], {}

        def on_train_start(self, trainer, pl_module):
            for name in ("broadcast", "all_reduce", "all_gather", "barrier"):
                def counted(*a, _real=getattr(dist, name), _name=name, **k):
                    self.calls.append(_name)
                    return _real(*a, **k)
                setattr(dist, name, counted)

        def on_train_batch_end(self, trainer, *args):
            self.steps[trainer.global_step], self.calls = self.calls, []

    out, ours = sys.argv[1], sys.argv[2] == "ours"
    count = Count()
    callbacks = [SlurmRequeue(), SigtermCheckpoint(out + ".ckpt")] if ours else []
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=40, limit_train_batches=20,
                        limit_val_batches=0, callbacks=[*callbacks, count], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(BoringModel())
    if trainer.global_rank == 0:
        with open(out, "w") as f:
            json.dump(count.steps, f)
""")


@pytest.mark.parametrize("mode", ["ours", "lightning"])
def test_collectives_per_step(tmp_path, mode):
    script, out = tmp_path / "fit.py", tmp_path / "steps.json"
    script.write_text(SCRIPT)
    env = dict(os.environ, SLURM_JOB_ID="4242", PYTHONPATH=str(ROOT))   # SlurmRequeue is on inside a SLURM job
    env.pop("SLURM_NTASKS", None)
    p = subprocess.run([sys.executable, str(script), str(out), mode], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    steps = {int(k): v for k, v in json.loads(out.read_text()).items()}
    assert sorted(steps) == list(range(1, 41))
    if mode == "ours":
        assert {s: c for s, c in steps.items() if c} == {s: ["all_reduce"] for s in (10, 20, 30, 40)}, steps
    else:
        assert all(c == ["broadcast"] for c in steps.values()), steps
