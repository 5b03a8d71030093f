"""Stop signals under DDP, acted on between steps: a signal handler only raises a flag, and every `every_n_steps`
optimiser steps all ranks agree on every flag with one all_reduce, so that all of them save and stop at the same step.

Lightning 2.6's own SIGTERM handler broadcasts from inside the handler: on a rank that gets the signal while the
others are in a gradient all-reduce, that broadcast pairs with the wrong collective (a hang, or garbage), and the
rank then stops alone. Its training loop also broadcasts rank 0's flag before every step: a collective that syncs
the host each step and never sees a signal that reached another rank only. SLURM's tasks get a signal at slightly
different moments, so this happens. The callbacks here (SlurmRequeue: USR1, SigtermCheckpoint: SIGTERM) take their
signal over when the fit starts, after Lightning installed its handlers (its teardown puts the original ones back);
SigtermCheckpoint also drops Lightning's per-step broadcast, whose flag then never changes. In one process the
flags are read after every step, with no collective.
"""
from __future__ import annotations

import logging
import signal
import threading

import torch
from lightning.pytorch.callbacks import Callback

from audioclust import checks

log = logging.getLogger(__name__)


class AgreedSignal(Callback):
    """Subclasses say whether they are wanted (`wanted`) and what every rank does at the step their signal is agreed
    on (`act`: save, then raise SIGTERMException to stop the fit)."""

    def __init__(self, signal_name: str, every_n_steps: int = 10) -> None:
        self.signum = signal.Signals[signal_name]
        self.every_n_steps = checks.number("every_n_steps", every_n_steps, integer=True)
        self.raised = self.agreed = self.active = False
        self._checked_step = -1

    def wanted(self, trainer) -> bool:
        return True

    def act(self, trainer) -> None:
        raise NotImplementedError

    def take_over(self, trainer) -> None:
        if self.active:
            return
        self.raised = self.agreed = False
        self.active = threading.current_thread() is threading.main_thread() and self.wanted(trainer)
        if self.active:
            signal.signal(self.signum, self._on_signal)

    def on_sanity_check_start(self, trainer, pl_module) -> None:   # the first hook after Lightning's handlers
        self.take_over(trainer)

    def on_train_start(self, trainer, pl_module) -> None:
        self.take_over(trainer)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.active = False

    def _on_signal(self, signum, frame) -> None:
        self.raised = True   # nothing else: the main thread may be inside a collective

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.active:
            return
        group = [c for c in trainer.callbacks if isinstance(c, AgreedSignal) and c.active]
        if self is group[0]:   # the first of them in the (same on every rank) callback order agrees for all
            agree(trainer, group)
        if self.agreed:
            log.info("%s: all ranks stop at step %d (rank %d, %s)", self.signum.name, trainer.global_step,
                     trainer.global_rank, "signalled here" if self.raised else "signalled elsewhere")
            self.act(trainer)


def agree(trainer, group: list[AgreedSignal]) -> None:
    """Set `agreed` on each callback of `group`: its signal reached some rank. One process: at every step; several:
    one all_reduce at the steps that are a multiple of some callback's every_n_steps (once per optimiser step)."""
    if trainer.world_size == 1:
        for c in group:
            c.agreed = c.raised
        return
    step, lead = trainer.global_step, group[0]
    if step == lead._checked_step or not any(step % c.every_n_steps == 0 for c in group):
        return
    lead._checked_step = step
    flags = torch.tensor([float(c.raised) for c in group], device=trainer.strategy.root_device)
    torch.distributed.all_reduce(flags)   # a sum; not strategy.reduce, which adds a barrier first
    for c, n in zip(group, flags.tolist()):
        c.agreed = n > 0
