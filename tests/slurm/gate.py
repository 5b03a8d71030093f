"""A callback for tests/launch/test_slurm.py (on PYTHONPATH there): the first attempt of a SLURM job trains until
the USR1 that SLURM sends before the time limit (or scancel --signal=USR1) has reached it, however fast the
machine, so "the job is signalled while it trains" is ordered by the signal itself, not by how long training
takes. A requeued attempt (SLURM_RESTART_COUNT > 0) is not held."""
from __future__ import annotations

import os
import time

from lightning.pytorch.callbacks import Callback

from audioclust.launch.slurm import SlurmRequeue


class HoldUntilSignalled(Callback):
    def __init__(self, after_steps: int = 4) -> None:
        self.after_steps = after_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if int(os.environ.get("SLURM_RESTART_COUNT") or 0) or trainer.global_step < self.after_steps:
            return
        requeue = next(c for c in trainer.callbacks if isinstance(c, SlurmRequeue))
        while requeue.active and not requeue.raised:   # raised by the USR1 handler, which runs during the sleep
            time.sleep(0.05)
