"""Property-based tests (hypothesis): the loader and the block cutter over random lengths, rates, channel
counts, sample types and front-end configs never fail with anything but the project's own errors.

Each test counts the examples it ran and prints the number (`pytest -s`)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioclust.data.audio import fit_length, load, probe, trim_silence
from audioclust.errors import ConfigError, DataError
from audioclust.frontend import Frontend

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
RATES = st.one_of(st.sampled_from([1, 8, 400, 8000, 11025, 16000, 44100, 96000, 192000, 384000]),
                  st.integers(1, 200_000))
SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def waves(draw):
    n = draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(0, 6000)))
    channels = draw(st.integers(1, 8))
    subtype = draw(st.sampled_from(SUBTYPES))
    x = draw(st.sampled_from(["noise", "silence", "loud", "nan"]))
    rng = np.random.default_rng(n * 31 + channels)
    data = rng.uniform(-1, 1, (n, channels))
    if x == "silence":
        data[:] = 0
    elif x == "loud":
        data *= 50  # beyond full scale: float files keep it, PCM clips it
    elif x == "nan" and subtype in ("FLOAT", "DOUBLE") and n:
        data.flat[:: max(1, data.size // 5)] = np.nan
        data.flat[1:: max(2, data.size // 3)] = np.inf
    return data, draw(RATES), subtype


@pytest.mark.slow
def test_loader_decodes_or_raises_data_error(tmp_path, capsys):
    ran = {"n": 0, "decoded": 0, "refused": 0}

    @settings(max_examples=100, **SETTINGS)
    @given(w=waves(), target=st.sampled_from([8000, 16000, 22050]), start=st.floats(0, 2),
           seconds=st.floats(0.01, 1.5), trim=st.sampled_from([None, 30.0]))
    def check(w, target, start, seconds, trim):
        data, rate, subtype = w
        ran["n"] += 1
        path = tmp_path / "x.wav"
        sf.write(path, data, rate, subtype=subtype)
        try:
            info = probe(path)
            x = load(str(path), target, start, seconds)
        except DataError as exc:
            assert str(exc) and "\n" not in str(exc)
            assert len(data) == 0, f"refused a file with {len(data)} samples: {exc}"
            ran["refused"] += 1
            return
        ran["decoded"] += 1
        assert info.channels == data.shape[1] and info.frames == len(data)
        assert x.ndim == 1 and x.dtype == np.float32 and np.isfinite(x).all() and np.abs(x).max(initial=0) <= 1
        assert len(x) <= int(np.ceil(seconds * rate)) * target / rate + 8   # never more than the window asked
        if rate == target and start == 0:
            assert len(x) == min(len(data), int(round(seconds * rate)))
        if trim:
            x = trim_silence(x, target, trim)
        y = fit_length(x, int(target * seconds))
        assert y.shape == (int(target * seconds),) and np.isfinite(y).all()

    check()
    print(f"\nhypothesis: {ran['n']} loader examples ({ran['decoded']} decoded, {ran['refused']} refused)")
    assert ran["n"] >= 40 and ran["decoded"] > 0 and ran["refused"] > 0


@st.composite
def frontends(draw):
    kind = draw(st.sampled_from(["mel", "mel", "stft", "cqt", "mfcc"]))
    cfg = dict(kind=kind, sr=draw(st.sampled_from([400, 4000, 8000, 16000, 22050])),
               clip_seconds=draw(st.sampled_from([0.05, 0.25, 0.5, 1.0, 2.0])),
               n_fft=draw(st.sampled_from([16, 64, 256, 512, 4096])),
               frames_per_second=draw(st.sampled_from([8, 32, 64, 200])),
               n_mels=draw(st.integers(1, 96)), fmin=draw(st.sampled_from([0.0, 0.0, 50.0, 3000.0])),
               n_bins=draw(st.integers(1, 96)), bins_per_octave=draw(st.sampled_from([6, 12, 24])),
               norm=draw(st.sampled_from(["clip", "freq", "none"])), channels=draw(st.sampled_from([1, 3])),
               align=draw(st.sampled_from(["pad", "stretch"])))
    size = st.one_of(st.integers(1, 12), st.integers(-2, 80))
    cfg["block_size"] = [draw(size), draw(size)]
    cfg["block_hop"] = draw(st.one_of(st.none(), st.tuples(st.integers(1, 8), st.integers(1, 8)),
                                      st.tuples(st.integers(-1, 40), st.integers(-1, 40))))
    return cfg


@pytest.mark.slow
def test_block_cutter_shapes_or_config_error(capsys):
    torch.set_num_threads(1)
    ran = {"n": 0, "built": 0, "refused": 0}

    @settings(max_examples=100, **SETTINGS)
    @given(cfg=frontends(), batch=st.integers(1, 3), fill=st.sampled_from(["noise", "zeros", "impulse"]))
    def check(cfg, batch, fill):
        ran["n"] += 1
        try:
            fe = Frontend(**cfg)
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc)
            ran["refused"] += 1
            return
        ran["built"] += 1
        assert fe.spec_shape[1] == fe.n_samples // fe.hop_length + 1   # centred frames, as nnAudio makes them
        n = fe.n_samples
        wave = torch.zeros(batch, n)
        if fill == "noise":
            wave = 0.3 * torch.randn(batch, n, generator=torch.Generator().manual_seed(n))
        elif fill == "impulse":
            wave[:, 0] = 1.0
        lengths = torch.randint(1, n + 1, (batch,), generator=torch.Generator().manual_seed(1))
        spec = fe.spectrogram(wave, lengths)
        assert spec.shape == (batch, fe.channels, *fe.spec_shape) and torch.isfinite(spec).all()
        blocks = fe(wave, lengths)
        assert blocks.shape == (batch, fe.n_blocks, fe.channels, *fe.block_size) and fe.n_blocks >= 1
        assert torch.isfinite(blocks).all()
        # the first block is the top-left corner of the spectrogram
        bf, bt = fe.block_size
        assert torch.equal(blocks[:, 0], spec[:, :, :bf, :bt])

    check()
    print(f"\nhypothesis: {ran['n']} front-end examples ({ran['built']} built, {ran['refused']} refused)")
    assert ran["n"] >= 30 and ran["built"] > 0 and ran["refused"] > 0

