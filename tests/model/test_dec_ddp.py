"""model=idec under DDP: every parameter gets a gradient at every step (DDP does not search for unused ones), and
2 gloo ranks train as one process does at the same global batch, with the same DEC centroids on every rank."""
import pytest
import torch
from common_utils import ROOT, run_script
from hydra import compose, initialize_config_module

from audioclust.tasks.builders import build_model


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")   # _step without a Trainer
def test_every_parameter_gets_a_gradient_before_the_dec_starts():
    with initialize_config_module("audioclust.conf", version_base="1.3"):
        cfg = compose("train", overrides=["debug=default", "model=idec", "data.n_clusters=3"])
    model = build_model(cfg)
    assert not model.dec.active()
    wave = torch.randn(4, 16000, generator=torch.Generator().manual_seed(0))
    batch = {"wave": wave, "length": torch.full((4,), 16000), "sample_id": torch.arange(4), "ok": torch.ones(4, dtype=torch.bool)}
    model._step(batch, "train").backward()
    missing = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    assert torch.count_nonzero(model.dec.centroids.grad) == 0   # weight 0: the centroids stay as they are


@pytest.mark.slow
def test_two_gloo_ranks_train_as_one_process(tmp_path):
    """Global batch 8: one process of 8 clips a step against 2 ranks of 4 (a seeded DistributedSampler gives step k
    the same 8 clips either way); 5 steps of plain autoencoder, then the DEC init and 5 steps with it."""
    runs = {}
    for devices in (1, 2):
        out = tmp_path / f"devices{devices}"
        out.mkdir()
        p = run_script(str(ROOT / "tests" / "model" / "dec_ddp_run.py"), str(devices), "8", "5", str(tmp_path / "c"), str(out))
        assert p.returncode == 0, p.stderr[-3000:]
        runs[devices] = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(devices)]
    (one,), (r0, r1) = runs[1], runs[2]
    ddp_loss = (r0["losses"] + r1["losses"]) / 2   # DDP's loss: the mean of the ranks' losses
    assert one["losses"].shape == ddp_loss.shape == (10,)
    assert (ddp_loss[:5] - one["losses"][:5]).abs().max() < 1e-4
    assert (ddp_loss - one["losses"]).abs().max() < 1e-4   # and after the DEC init
    assert not torch.equal(r0["losses"], r1["losses"])     # the ranks saw different clips
    # the DEC pass: each rank embedded its half of the training set; the same centroids and targets on both
    assert one["embedded"] == one["n_train"] and r0["embedded"] == r1["embedded"] == -(-one["n_train"] // 2)
    assert torch.equal(r0["centroids"], r1["centroids"]) and torch.equal(r0["targets"], r1["targets"])
    assert torch.allclose(r0["centroids"], one["centroids"], atol=1e-5)
    assert torch.allclose(r0["targets"], one["targets"], atol=1e-5)
    assert torch.equal(r0["final_centroids"], r1["final_centroids"])
    assert not torch.equal(r0["final_centroids"], r0["centroids"])   # the centroids were trained
