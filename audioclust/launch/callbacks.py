"""Lightning callbacks for jobs that get killed: save `last.ckpt` when SIGTERM arrives.

SLURM (and most schedulers) send SIGTERM before SIGKILL. Lightning's signal connector turns SIGTERM into
`received_sigterm` and raises SIGTERMException at the next batch boundary; this callback writes the
checkpoint from `on_exception`, so the same command resumes from there. On SLURM the USR1 warning before a
time limit is handled by audioclust.launch.slurm.SlurmRequeue (hpc_ckpt_*.ckpt, which the train task also resumes
from when it is newer than `last.ckpt`); the SIGTERM of a requeue then lands here too, at the same step.
"""
from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)


class SigtermCheckpoint(L.Callback):
    def __init__(self, dirpath: str, filename: str = "last.ckpt"):
        self.path = Path(dirpath) / filename

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        trainer.save_checkpoint(self.path)  # every rank calls it; the strategy writes from rank 0
        if trainer.is_global_zero:
            log.warning("SIGTERM: saved %s at epoch %d, step %d; run the same command again to resume",
                        self.path, trainer.current_epoch, trainer.global_step)


class CountResumedEpoch(L.Callback):
    """Mends Lightning's epoch count after a resume from a checkpoint saved in `on_train_batch_end` of an epoch's
    last batch (SlurmRequeue's hpc_ckpt_N.ckpt, the SIGTERM last.ckpt, a step checkpoint that falls on an epoch's end).

    Lightning (2.6) then counts that epoch as done, skips the next epoch's start, and runs the next epoch without
    counting it as started. Nothing goes wrong until the run is stopped again in the middle of that epoch: the
    checkpoint then says no epoch is in progress, so the resume trains that epoch from its first batch again (one
    batch twice, every logged step one behind global_step; seen in a SLURM job requeued twice). Counting the
    epoch as started when training starts keeps every later checkpoint right. Not when no epoch follows (the save
    was on the last epoch's last batch): the run ends at once, and a later run with more epochs must start that
    epoch itself. That epoch's `on_train_epoch_start` hooks are not called (Lightning's skip, kept). The train task
    always adds it."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fit = trainer.fit_loop
        if not (fit.restarted_mid_epoch and fit.epoch_loop.restarted_on_train_batch_end
                and fit.epoch_loop.batch_progress.is_last_batch):
            return
        epochs_done = fit.max_epochs not in (None, -1) and fit.epoch_progress.current.processed >= fit.max_epochs
        steps_done = fit.max_steps not in (None, -1) and trainer.global_step >= fit.max_steps
        if not (epochs_done or steps_done):
            fit.epoch_progress.increment_ready()
            fit.epoch_progress.increment_started()
