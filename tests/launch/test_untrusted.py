"""Crafted pickle checkpoints (unpickling them would create a marker file) are refused with a clear error, and
the marker is never created: model.pt for cluster.py, last.ckpt and ckpt_path= for train.py's resume.

torch 2.13 already defaults to weights_only=True, but TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 turns that default
off; audioclust passes weights_only=True explicitly everywhere, so the tests run with that variable set."""
from __future__ import annotations

import pytest
import soundfile as sf
import torch
from common_utils import run_script, tone

from audioclust import io
from audioclust.errors import CheckpointError
from audioclust.launch.checkpoint_io import AtomicCheckpointIO


class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # unpickling calls open(marker, "w"): the file appears if code ran
        return (open, (self.marker, "w"))


def craft(path, marker) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 0, "payload": Evil(marker)}, path)


def test_loaders_refuse_a_pickle_that_runs_code(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    craft(tmp_path / "model.pt", marker)
    with pytest.raises(CheckpointError, match="refusing to load .*model.pt: not a plain weights file"):
        io.load_torch(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="refusing to load"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="weights_only=False"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "model.pt", weights_only=False)
    assert not marker.exists()
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "ok.pt")  # plain tensors still load
    assert torch.equal(io.load_torch(tmp_path / "ok.pt")["state_dict"]["w"], torch.ones(2))


def _fails_clearly(p, needle):
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert needle in p.stderr and "Traceback" not in p.stderr, p.stderr[-2000:]


@pytest.mark.slow
def test_resume_and_cluster_refuse_crafted_checkpoints(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    for i in range(6):
        sf.write(tmp_path / f"t{i}.wav", tone(300 + 40 * i), 16000)
    marker, run = tmp_path / "pwned", tmp_path / "run"
    args = ("train.py", "debug=default", "data=folder", f"data.root={tmp_path}", "data.batch_size=2", "threads=1",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run}")
    craft(run / "checkpoints" / "last.ckpt", marker)  # the rerun of a job resumes from it
    _fails_clearly(run_script(*args), "refusing to load")
    craft(tmp_path / "other.ckpt", marker)
    (run / "checkpoints" / "last.ckpt").unlink()
    _fails_clearly(run_script(*args, f"ckpt_path={tmp_path / 'other.ckpt'}"), "refusing to load")
    craft(run / "model.pt", marker)  # run_config.yaml was written before fit started
    p = run_script("cluster.py", f"run_dir={run}", "wandb.enabled=false", f"hydra.run.dir={tmp_path}/fit")
    _fails_clearly(p, "refusing to load")
    assert not marker.exists()
