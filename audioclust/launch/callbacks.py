"""Lightning callbacks for jobs that get killed: save `last.ckpt` when SIGTERM arrives.

SLURM (and most schedulers, `docker stop`, Kubernetes) send SIGTERM before SIGKILL. SigtermCheckpoint takes SIGTERM
over from Lightning (audioclust.launch.signals: the handler only raises a flag, the ranks agree at a step boundary
every `every_n_steps` steps, DDP-safe); at that step every rank saves `last.ckpt` and stops with SIGTERMException,
and the train task exits 143, so the same command resumes from there. On SLURM the USR1 warning before a time
limit is handled by audioclust.launch.slurm.SlurmRequeue (hpc_ckpt_*.ckpt, which the train task also resumes from
when it is newer than `last.ckpt`).
"""
from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from audioclust.launch.signals import AgreedSignal

log = logging.getLogger(__name__)


class SigtermCheckpoint(AgreedSignal):
    """A SIGTERM (to any one rank) makes all ranks save `dirpath/filename` at the next agreed step and stop. A
    SIGTERM after the last check of the fit (e.g. in the final validation) lets training finish instead."""

    def __init__(self, dirpath: str, filename: str = "last.ckpt", every_n_steps: int = 10):
        super().__init__("SIGTERM", every_n_steps)
        self.path = Path(dirpath) / filename

    def take_over(self, trainer: L.Trainer) -> None:
        super().take_over(trainer)
        connector = getattr(trainer, "_signal_connector", None)   # Lightning's: a SIGTERM before this hook
        if self.active and getattr(connector, "received_sigterm", False):
            self.raised, connector.received_sigterm = True, False   # goes through the agreement, not one rank alone
        loop = trainer.fit_loop.epoch_loop
        if self.active and hasattr(loop, "_broadcast_sigterm_tensor"):   # Lightning 2.6: rank 0's flag, every step
            loop._broadcast_sigterm_tensor = lambda: None   # always 0 now that its handler is gone

    def act(self, trainer: L.Trainer) -> None:
        trainer.save_checkpoint(self.path)  # every rank calls it; the strategy writes from rank 0, then a barrier
        if trainer.is_global_zero:
            log.warning("SIGTERM: saved %s at epoch %d, step %d; run the same command again to resume",
                        self.path, trainer.current_epoch, trainer.global_step)
        raise SIGTERMException()


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
