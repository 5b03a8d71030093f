"""SlurmRequeue without a cluster: a USR1 mid-epoch saves hpc_ckpt_1.ckpt at that step, asks `scontrol`
(a recording stand-in on PATH) to requeue this job, and stops the run without finishing it."""
import os
import signal
import stat

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.demos.boring_classes import BoringModel

from audioclust.launch.callbacks import CountResumedEpoch
from audioclust.launch.slurm import SlurmRequeue, next_hpc_path


class SignalAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch):
    calls = tmp_path / "scontrol.calls"
    script = tmp_path / "bin" / "scontrol"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    for var in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    return calls


def test_usr1_saves_requeues_and_stops(tmp_path, fake_slurm):
    before = signal.getsignal(signal.SIGUSR1)
    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=3, limit_train_batches=10, limit_val_batches=2,
                        callbacks=[SlurmRequeue(), SignalAt(step=13)], logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, accelerator="cpu", devices=1)
    with pytest.raises(SystemExit):
        trainer.fit(BoringModel())
    ckpt = torch.load(tmp_path / "hpc_ckpt_1.ckpt", weights_only=True)
    assert (ckpt["epoch"], ckpt["global_step"]) == (1, 14)  # saved at the end of the signalled batch
    assert fake_slurm.read_text().split() == ["requeue", "4242"]
    assert trainer.global_step == 14  # stopped there, did not run to 30 steps
    assert signal.getsignal(signal.SIGUSR1) == before  # handler restored


class Trained(Callback):
    """(epoch, batch index) of every batch that ran its optimiser step."""
    def __init__(self):
        self.batches = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.batches.append((trainer.current_epoch, batch_idx))


@pytest.mark.parametrize("signal_steps", [(9, 14), (9, 19, 24), (4, 13)])
def test_requeued_again_after_a_save_on_an_epochs_last_batch(tmp_path, fake_slurm, signal_steps):
    """Step 9 is epoch 0's last batch: Lightning resumes from that save, but without CountResumedEpoch the next
    save in the middle of an epoch resumes that epoch from its first batch (one batch twice, seen on SLURM)."""
    trained, resume = [], None
    for step in (*signal_steps, None):
        seen = Trained()
        callbacks = [seen, SlurmRequeue(), CountResumedEpoch()] + ([SignalAt(step)] if step is not None else [])
        trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=3, limit_train_batches=10, limit_val_batches=2,
                            callbacks=callbacks, logger=False, enable_progress_bar=False,
                            enable_checkpointing=False, accelerator="cpu", devices=1)
        if step is None:
            trainer.fit(BoringModel(), ckpt_path=resume)
        else:
            with pytest.raises(SystemExit):
                trainer.fit(BoringModel(), ckpt_path=resume)
            resume = max(tmp_path.glob("hpc_ckpt_*.ckpt"), key=lambda p: int(p.stem.split("_")[-1]))
            assert torch.load(resume, weights_only=True)["global_step"] == step + 1
        trained += seen.batches
    assert trained == [(e, b) for e in range(3) for b in range(10)]   # every batch once, in order
    assert trainer.global_step == 30


def test_a_save_on_the_last_epochs_last_batch_then_more_epochs(tmp_path, fake_slurm):
    """Signalled on the very last batch (step 29 of 30): the resumed run has nothing left to train and ends, its
    save_last checkpoint written at train end; a later run with one more epoch trains that whole epoch."""
    trained, resume = [], None
    for max_epochs, step in ((3, 29), (3, None), (4, None)):
        seen = Trained()
        last = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=0, save_last=True, every_n_train_steps=1000)
        callbacks = [seen, SlurmRequeue(), CountResumedEpoch(), last] + ([SignalAt(step)] if step else [])
        trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=max_epochs, limit_train_batches=10,
                            limit_val_batches=2, callbacks=callbacks, logger=False, enable_progress_bar=False,
                            accelerator="cpu", devices=1)
        if step:
            with pytest.raises(SystemExit):
                trainer.fit(BoringModel(), ckpt_path=resume)
        else:
            trainer.fit(BoringModel(), ckpt_path=resume)
        resume = max([*tmp_path.glob("hpc_ckpt_*.ckpt"), *tmp_path.glob("ckpt/last.ckpt")],
                     key=lambda p: p.stat().st_mtime_ns)
        trained += seen.batches
    assert trained == [(e, b) for e in range(4) for b in range(10)]
    assert trainer.global_step == 40


def test_a_signal_after_training_is_ignored(tmp_path, fake_slurm):
    """The warning can come after the last step (the last attempt ended near the limit): by then USR1's
    default action would kill the process that has just finished, and SLURM would call the job FAILED."""
    before = signal.getsignal(signal.SIGUSR1)
    try:
        trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1,
                            callbacks=[SlurmRequeue()], logger=False, enable_progress_bar=False,
                            enable_checkpointing=False, accelerator="cpu", devices=1)
        trainer.fit(BoringModel())
        assert trainer.global_step == 3 and signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGUSR1)              # ignored: this test process goes on
        assert not fake_slurm.exists() and not list(tmp_path.glob("hpc_ckpt_*"))
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_inactive_outside_slurm(tmp_path, monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    cb = SlurmRequeue()
    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=1, limit_train_batches=3, limit_val_batches=1,
                        callbacks=[cb], logger=False, enable_progress_bar=False, enable_checkpointing=False)
    trainer.fit(BoringModel())
    assert not cb.active and trainer.global_step == 3 and not list(tmp_path.glob("hpc_ckpt_*"))


def test_next_hpc_path_counts_up(tmp_path):
    assert next_hpc_path(tmp_path).name == "hpc_ckpt_1.ckpt"
    (tmp_path / "hpc_ckpt_1.ckpt").touch()
    (tmp_path / "hpc_ckpt_3.ckpt").touch()
    assert next_hpc_path(tmp_path).name == "hpc_ckpt_4.ckpt"


def test_a_sigterm_before_the_take_over_goes_through_the_agreement():
    """Lightning's handler may catch a SIGTERM before the callback takes the signal over (loader set-up): its flag
    becomes the callback's, so all ranks stop together at an agreed step, not the signalled rank alone."""
    import signal
    from types import SimpleNamespace

    from audioclust.launch.callbacks import SigtermCheckpoint

    connector = SimpleNamespace(received_sigterm=True)
    trainer = SimpleNamespace(_signal_connector=connector, fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace()))
    cb, before = SigtermCheckpoint("/nonexistent"), signal.getsignal(signal.SIGTERM)
    try:
        cb.take_over(trainer)
        assert cb.active and cb.raised and connector.received_sigterm is False
    finally:
        signal.signal(signal.SIGTERM, before)
