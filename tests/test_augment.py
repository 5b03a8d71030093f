import torch

from audioclust.frontend import Frontend
from audioclust.model.augment import SpecAugment, _mask, _shift, nt_xent
from audioclust.model.module import BlockAutoencoder


def test_shift_moves_each_sample_and_repeats_edges():
    x = torch.arange(10.0).repeat(2, 1, 1, 1)  # B=2, C=1, F=1, T=10
    y = _shift(x, torch.tensor([2, -3]), dim=3)
    assert y[0, 0, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert y[1, 0, 0].tolist() == [3, 4, 5, 6, 7, 8, 9, 9, 9, 9]


def test_mask_zeroes_at_most_width_columns():
    torch.manual_seed(0)
    y = _mask(torch.ones(50, 1, 4, 20), 5, dim=3)
    zeros = (y[:, 0, 0] == 0).sum(1)
    assert zeros.max() <= 5 and zeros.float().mean() > 1 and (y[:, 0] == y[:, 0, :1]).all()


def test_specaugment_keeps_shape_and_changes_content():
    x = torch.randn(4, 1, 64, 65)
    y = SpecAugment()(x)
    assert y.shape == x.shape and not torch.allclose(x, y)


def test_nt_xent_prefers_matching_views():
    torch.manual_seed(0)
    z = torch.randn(16, 8)
    matched = nt_xent(z, z + 0.01 * torch.randn_like(z))
    shuffled = nt_xent(z, z[torch.randperm(16)])
    assert matched < 0.5 < shuffled


def test_contrastive_denoising_step_trains_projector_and_encoder():
    model = BlockAutoencoder(Frontend(), {"widths": [8, 16, 32], "code_channels": 4},
                             lambda params: torch.optim.Adam(params, lr=1e-3),
                             augment={"freq_shift": 2}, contrastive={"weight": 1.0, "dim": 16})
    logged = {}
    model.log = lambda name, value, **k: logged.__setitem__(name, float(value))
    loss = model.training_step({"wave": torch.randn(6, 16000)}, 0)
    loss.backward()
    assert {"train/loss", "train/recon", "train/contrastive"} <= set(logged)
    assert logged["train/loss"] > logged["train/recon"]
    assert all(p.grad is not None for p in model.projector.parameters())
    assert model.embed(torch.randn(2, 16000)).shape == (2, model.embedding_dim)
