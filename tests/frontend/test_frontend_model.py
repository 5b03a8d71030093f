import pytest
import torch

from audioclust.errors import ConfigError
from audioclust.frontend import Frontend
from audioclust.model.autoencoder import ConvAutoencoder
from audioclust.model.module import BlockAutoencoder


def _net(fe, kw):
    return ConvAutoencoder(fe.channels, fe.block_size, **kw)


def _optimizer(params):
    return torch.optim.Adam(params, lr=1e-3)


@pytest.mark.parametrize("kw,shape", [
    ({}, (2, 1, 64, 32)),
    ({"kind": "stft", "n_fft": 254}, (4, 1, 64, 32)),
    ({"kind": "cqt", "fmin": 50.0, "n_bins": 64}, (2, 1, 64, 32)),
    ({"channels": 3, "block_hop": (64, 16)}, (3, 3, 64, 32)),
])
def test_block_shapes(kw, shape):
    fe = Frontend(sr=16000, clip_seconds=1.0, **kw)
    blocks = fe(torch.randn(5, 16000))
    assert blocks.shape == (5, *shape) and fe.n_blocks == shape[0]
    assert torch.isfinite(blocks).all()


def test_blocks_tile_the_spectrogram_in_order():
    fe = Frontend(block_size=(32, 16))
    spec = torch.arange(64 * 65, dtype=torch.float32).reshape(1, 1, 64, 65)
    b = fe.blocks(spec)
    assert b.shape == (1, 2 * 4, 1, 32, 16)
    assert torch.equal(b[0, 0, 0], spec[0, 0, :32, :16]) and torch.equal(b[0, 5, 0], spec[0, 0, 32:, 16:32])


@pytest.mark.parametrize("norm", ["freq", "clip"])
def test_frontend_normalises_and_ignores_gain(norm):
    fe = Frontend(norm=norm)
    t = torch.arange(16000) / 16000   # noise and a 440 Hz tone rising together: a spectral shape that clip keeps
    noise = torch.randn(1, 16000, generator=torch.Generator().manual_seed(0))
    x = (noise + 5 * torch.sin(2 * torch.pi * 440 * t)) * torch.linspace(0, 1, 16000)
    spec = fe.spectrogram(x)
    if norm == "freq":
        assert spec.mean(-1).abs().max() < 1e-4  # every band has zero mean over time
    else:
        assert spec.mean().abs() < 1e-4 and (spec.std() - 1).abs() < 1e-2
        assert spec.mean(-1).abs().max() > 0.1  # the spectral shape is kept
    assert torch.allclose(spec, fe.spectrogram(4 * x), atol=1e-3)


def test_bad_frontend_configs_say_what_is_wrong():
    with pytest.raises(ConfigError, match="larger than the spectrogram"):
        Frontend(block_size=(128, 32))
    with pytest.raises(ConfigError, match="unknown frontend.kind="):
        Frontend(kind="wavelet")
    with pytest.raises(ConfigError, match="must be two integers >= 1"):
        Frontend(block_size=(-4, 32))
    with pytest.raises(ConfigError, match="divisible"):
        ConvAutoencoder(1, (60, 32), widths=(8, 16, 32))


def test_seed_preset_reproduces_the_origin_shapes():
    fe = Frontend(sr=8000, n_fft=2048, n_mels=288, frames_per_second=440, channels=3, block_size=(144, 144))
    model = BlockAutoencoder(fe, _net(fe, {"widths": [16, 32, 64, 64], "code_channels": 1}), _optimizer)
    assert fe.n_blocks == 6 and model.net.code_shape == (1, 9, 9) and model.embedding_dim == 486
    assert model.embed(torch.randn(2, 8000)).shape == (2, 486)


@pytest.mark.parametrize("pooling,dim", [("concat", 2 * 256), ("mean", 256), ("max", 256), ("timestats", 2 * 8 * 8)])
def test_forward_backward_and_pooling(pooling, dim):
    model = BlockAutoencoder(fe := Frontend(), _net(fe, {"widths": [8, 16, 32], "code_channels": 8}), _optimizer, pooling=pooling)
    batch = {"wave": torch.randn(3, 16000), "ok": torch.tensor([True, True, False]), "sample_id": torch.arange(3)}
    model.log = lambda *a, **k: None
    loss = model.training_step(batch, 0)
    loss.backward()
    grads = [p.grad for p in model.net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    out = model.predict_step(batch, 0)
    assert out["embedding"].shape == (3, dim) and model.embedding_dim == dim


def test_training_reduces_reconstruction_loss():
    torch.manual_seed(0)
    model = BlockAutoencoder(fe := Frontend(), _net(fe, {"widths": [8, 16, 32], "code_channels": 8}), _optimizer)
    model.log = lambda *a, **k: None
    opt = model.configure_optimizers()
    batch = {"wave": torch.randn(8, 16000)}
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = model.training_step(batch, 0)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_stretch_aligns_clips_of_different_durations():
    t = torch.arange(16000) / 16000
    short = torch.zeros(16000)
    short[:4000] = torch.sin(2 * torch.pi * 1000 * t[:4000])  # 0.25 s of tone, then padding
    stretched = Frontend(align="stretch", norm="none").spectrogram(short[None], torch.tensor([4000]))
    padded = Frontend(norm="none").spectrogram(short[None])
    late = slice(int(0.6 * padded.shape[-1]), int(0.8 * padded.shape[-1]))
    loudest = lambda s: s[0, 0, :, late].amax(0)  # noqa: E731
    assert loudest(stretched).min() > loudest(padded).max() + 5  # the tone fills the time axis
    with pytest.raises(ConfigError, match="align"):
        Frontend(align="warp")


def test_timestats_pooling_does_not_care_where_a_sound_sits():
    """A burst moved by whole blocks: timestats embeddings stay equal, concat ones do not."""
    torch.manual_seed(0)
    fe = Frontend(clip_seconds=2.0, norm="none")      # 4 time blocks of 32 frames (0.5 s at 64 frames/s)
    net = _net(fe, {"widths": [8, 16, 32], "code_channels": 8})
    burst = 0.5 * torch.sin(2 * torch.pi * 1000 * torch.arange(8000) / 16000)
    early, late = torch.zeros(1, 32000), torch.zeros(1, 32000)
    early[0, 8000:16000], late[0, 16000:24000] = burst, burst   # one block later (0.5 s)
    out = {}
    for pooling in ("timestats", "concat"):
        model = BlockAutoencoder(fe, net, _optimizer, pooling=pooling).eval()
        a, b = model.embed(early), model.embed(late)
        out[pooling] = float((a - b).norm() / a.norm())
    assert out["timestats"] < 0.05 < out["concat"], out

