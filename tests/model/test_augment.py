import torch

from audioclust.frontend import Frontend
from audioclust.model.augment import SpecAugment, _mask, _shift, nt_xent
from audioclust.model.autoencoder import ConvAutoencoder
from audioclust.model.module import BlockAutoencoder


def _net(fe, kw):
    return ConvAutoencoder(fe.channels, fe.block_size, **kw)


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
    torch.manual_seed(0)
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
    model = BlockAutoencoder(fe := Frontend(), _net(fe, {"widths": [8, 16, 32], "code_channels": 4}),
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


def test_warp_identity_at_zero_and_frequency_scaling_moves_a_band():
    from audioclust.model.augment import warp

    x = torch.zeros(8, 1, 40, 30)
    x[:, :, 20] = 1.0  # one bright band in the middle
    assert torch.allclose(warp(x, 0.0, 0.0), x, atol=1e-5)
    torch.manual_seed(0)
    y = warp(x, 0.2, 0.0)
    peaks = y[:, 0, :, 15].argmax(1)
    # scaled about the lowest band: the peak moves to 20 * a (a in [0.8, 1.2]), by different amounts per clip
    assert peaks.min() >= 15 and peaks.max() <= 25 and len(set(peaks.tolist())) > 1
    assert (y.sum(2) - x.sum(2)).abs().max() < 2.5  # energy stays roughly where it was in time


def test_time_warp_keeps_order_of_events():
    from audioclust.model.augment import warp

    x = torch.zeros(16, 1, 8, 60)
    x[..., 8:13], x[..., 38:43] = 1.0, 2.0  # two events, the louder one later
    torch.manual_seed(1)
    y = warp(x, 0.0, 0.15)
    first, second = (y[:, 0, 0] > 0.5).float().argmax(1), (y[:, 0, 0] > 1.5).float().argmax(1)
    assert (first < second).all() and not torch.allclose(y, x)
