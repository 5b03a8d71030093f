"""Requeue on a SLURM time limit or preemption, safe under DDP: a Lightning callback, no model code.

SLURM sends USR1 to every task shortly before the end (`--signal=USR1@90`, see conf/hydra/launcher/slurm.yaml).
Lightning's own handler (SLURMEnvironment auto_requeue) saves the checkpoint inside the signal handler; with
DDP one rank can be inside a gradient all-reduce while another starts the checkpoint's collectives, and the
job deadlocks (seen on the test cluster). Here the handler only raises a flag (audioclust.launch.signals); at a
step boundary all ranks agree on it, save `<run dir>/hpc_ckpt_N.ckpt` together, rank 0 runs `scontrol requeue`,
and every rank stops without a result, so the requeued job (same pickled Hydra job, same run dir) resumes from it.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from pathlib import Path

from lightning.pytorch.utilities.exceptions import SIGTERMException

from audioclust.launch.signals import AgreedSignal

log = logging.getLogger(__name__)


def slurm_job_id() -> str | None:
    """The id `scontrol requeue` takes: <array job>_<task> inside an array, else the job id."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def next_hpc_path(folder: Path) -> Path:
    """hpc_ckpt_<N+1>.ckpt: Lightning's naming, so its own hpc resume also finds it."""
    numbers = [int(m.group(1)) for p in folder.glob("hpc_ckpt_*.ckpt") if (m := re.fullmatch(r"hpc_ckpt_(\d+)\.ckpt", p.name))]
    return folder / f"hpc_ckpt_{max(numbers, default=0) + 1}.ckpt"


class SlurmRequeue(AgreedSignal):
    """Inactive outside a SLURM job. Takes the signal over when the fit starts, after Lightning registered its
    handlers, so Lightning's own USR1 handler never runs and Lightning's teardown restores the original one.
    Under DDP the ranks agree every `every_n_steps` steps (one all_reduce shared with SigtermCheckpoint)."""

    def __init__(self, signal_name: str = "SIGUSR1", every_n_steps: int = 10) -> None:
        super().__init__(signal_name, every_n_steps)

    def wanted(self, trainer) -> bool:
        return bool(slurm_job_id())

    def on_fit_end(self, trainer, pl_module) -> None:
        """Lightning has just put back the handler from before fit: SIG_DFL, with which a USR1 ends the process.
        Training is over and nothing is left to save, so a warning that comes now (the last attempt ended close
        to the limit) is ignored: the job ends COMPLETED with its model.pt, not FAILED by the signal."""
        if self.active and signal.getsignal(self.signum) in (signal.SIG_DFL, None):
            signal.signal(self.signum, signal.SIG_IGN)
            log.info("training done: a late %s from SLURM will be ignored", self.signum.name)

    def act(self, trainer) -> None:
        path = next_hpc_path(Path(trainer.default_root_dir))
        trainer.save_checkpoint(path)  # all ranks, at the same step
        if trainer.is_global_zero:
            job = slurm_job_id()
            done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
            if done.returncode:
                log.warning("scontrol requeue %s failed: %s", job, done.stderr.strip())
            else:
                log.info("SLURM signal: saved %s, requeued job %s", path, job)
        trainer.strategy.barrier("slurm_requeue")
        raise SIGTERMException()  # a SystemExit: no result is written, SLURM restarts the job
