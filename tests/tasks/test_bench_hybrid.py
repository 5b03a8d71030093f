"""bench/hybrid.py's own logic: aisfx's frames are the network's map before its pooling (their maximum is the
network's embedding), each file's pooling counts only its valid frames, and the frame autoencoder trains per seed."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import hybrid as bench  # noqa: E402


def test_files_pool_their_valid_frames_only():
    rng = np.random.default_rng(0)
    blocks = rng.normal(size=(3, 4, bench.FRAMES)).astype(np.float32)
    valid = np.array([bench.FRAMES, 5, 3])
    owner = np.array([0, 0, 1])          # file 0: a full block and one of 5 frames; file 1: 3 frames
    blocks[1, :, 5:] = 1e6               # frames past the audio: never counted
    blocks[2, :, 3:] = -1e6
    f0 = np.concatenate([blocks[0], blocks[1, :, :5]], 1)
    f1 = blocks[2, :, :3]
    got = bench.pooled(blocks, valid, owner)
    np.testing.assert_allclose(got, np.stack([np.r_[f0.mean(1), f0.std(1)], np.r_[f1.mean(1), f1.std(1)]]), rtol=1e-5, atol=1e-5)
    got = bench.pooled(blocks, valid, owner, "max")
    np.testing.assert_allclose(got, np.stack([np.r_[f0.mean(1), f0.max(1)], np.r_[f1.mean(1), f1.max(1)]]), rtol=1e-5, atol=1e-5)
    own = bench.own_embedding(blocks, valid, owner)   # the network's own pooling: every frame of a block
    np.testing.assert_allclose(own[0], (blocks[0].max(1) + blocks[1].max(1)) / 2, rtol=1e-6)


def test_aisfx_frames_are_the_networks_map_before_its_pooling(tmp_path):
    pytest.importorskip("aisfx", reason="pip install 'audioclust[aisfx]' && pip install --no-deps aisfx==0.1.2")
    import torch

    from audioclust.embed.encoders.aisfx import AisfxEncoder

    enc = AisfxEncoder(precision="32")
    t = np.arange(int(3.5 * enc.sr)) / enc.sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    sf.write(tmp_path / "a.wav", x, enc.sr, subtype="FLOAT")   # the same samples the network reads below
    blocks, valid = bench.aisfx_frames(enc, tmp_path / "a.wav")
    n_frames = 1 + len(t) // enc.spec_hop
    assert blocks.shape == (2, 512, bench.FRAMES)         # 3.5 s: a whole 2.3 s block and a part of one
    assert valid[0] == bench.FRAMES and valid[1] == int(np.ceil((n_frames - enc.block) / enc.block * bench.FRAMES))
    spec, _ = enc.spectrogram(torch.from_numpy(x)[None], None)
    with torch.no_grad():
        first = enc.net(spec[:, :enc.block]).numpy()[0]
    np.testing.assert_allclose(blocks[0].max(1), first, rtol=1e-5, atol=1e-5)


def test_the_frame_autoencoder_trains_per_seed():
    rng = np.random.default_rng(0)
    blocks = rng.normal(size=(20, 16, bench.FRAMES)).astype(np.float32)
    valid = rng.integers(1, bench.FRAMES + 1, size=20)
    a = bench.hybrid_codes(blocks, valid, seed=0, code=4, epochs=2)
    assert a.shape == (20, 4, bench.FRAMES) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, bench.hybrid_codes(blocks, valid, seed=0, code=4, epochs=2))
    assert not np.allclose(a, bench.hybrid_codes(blocks, valid, seed=1, code=4, epochs=2))
