"""Where the pretrained encoders run: the CPU runtimes' threads (the run's), batches left on the CPU where an adapter
reads them there, onnxruntime's execution providers, and pickling (embed.strategy=ddp_spawn pickles the encoder).

Each model's tests skip (with the pip command) where its package is not installed. Audio is made here.
"""
from __future__ import annotations

import importlib
import pickle

import numpy as np
import pytest
import soundfile as sf
import torch
from test_encoders import ENCODERS, batch, clip, close, encoder, needs

from audioclust.embed.encoders import base

CPU_INPUT = {"aisfx": False, "birdnet": True, "speech": True, "speaker": True}   # where each adapter reads its waves


def build(name: str, **kw):
    """A new instance (not the session's shared one): for tests that change its threads or device."""
    needs(name)
    module, cls, _, _ = ENCODERS[name]
    return getattr(importlib.import_module(f"audioclust.embed.encoders.{module}"), cls)(**kw)


@pytest.fixture
def set_threads(monkeypatch):
    """torch.set_num_threads for one test (restored after), with the decision lines printable again."""
    before = torch.get_num_threads()
    monkeypatch.setattr(base, "_said", set())
    yield torch.set_num_threads
    torch.set_num_threads(before)


# ---------------------------------------------------------------- threads: the run's, read back from the runtime

def test_onnxruntime_threads_are_the_runs(set_threads, capsys):
    enc = build("speech")
    w, n = batch([clip("noise", 16000, 1.0)])
    set_threads(1)
    ref = enc.embed(w, n)
    first = enc.runtime
    assert [s.get_session_options().intra_op_num_threads for s in first] == [1, 1]
    assert [s.get_providers() for s in first] == [["CPUExecutionProvider"]] * 2
    set_threads(2)   # as Lightning sets a DDP rank's: the sessions are built again with the new count
    z = enc.embed(w, n)
    assert enc.runtime is not first and [s.get_session_options().intra_op_num_threads for s in enc.runtime] == [2, 2]
    close(z, ref, rtol=1e-4, atol=1e-4)   # onnxruntime's threaded kernels sum in another order (~1e-5)
    fixed = build("speech", threads=3)    # encoder.threads=3 wins over the run's
    fixed.embed(w, n)
    assert [s.get_session_options().intra_op_num_threads for s in fixed.runtime] == [3, 3]
    out = capsys.readouterr().out.splitlines()
    assert out == ["encoder=speech: onnxruntime on the CPU, 1 thread per process",
                   "encoder=speech: onnxruntime on the CPU, 2 threads per process",
                   "encoder=speech: onnxruntime on the CPU, 3 threads per process"]


def test_litert_threads_are_the_runs(set_threads, monkeypatch, capsys):
    """One single-thread interpreter per thread of the run, side by side on a batch's chunks (litert has no getter
    for its thread count: a subclass records what its constructor is given); the same bytes as one. BLAS (the front
    end's mel weights) runs on one thread while they do, and as before after."""
    needs("birdnet")
    from ai_edge_litert import interpreter as litert
    from threadpoolctl import threadpool_info

    from audioclust.embed.encoders import birdnet

    def blas_threads():   # numpy's BLAS (its wheel's own OpenBLAS), which the front end's matmul runs on
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas" and "numpy" in lib["filepath"]}

    during, own = [], birdnet.Litert.embed
    monkeypatch.setattr(birdnet.Litert, "embed", lambda self, chunks: during.append(blas_threads()) or own(self, chunks))
    given, outside = [], blas_threads()

    class Recorded(litert.Interpreter):
        def __init__(self, *args, **kw):
            given.append(kw["num_threads"])
            super().__init__(*args, **kw)

    monkeypatch.setattr(litert, "Interpreter", Recorded)
    enc = build("birdnet")
    assert given == []   # nothing built before the first clip (nor in a process that only pickles it)
    w, n = batch([clip("noise", 48000, 7.5), clip("chirp", 48000, 1.0), clip("tone", 48000, 4.0, seed=1)])
    set_threads(2)
    two = enc.embed(w, n)
    enc.embed(w, n)
    set_threads(1)
    one = enc.embed(w, n)
    assert given == [1, 1, 1]   # 2 interpreters of 1 thread, then 1
    assert torch.equal(one, two)   # the chunks shared out, each embedded whole: the same bytes
    assert outside and during and all(d == {1} for d in during) and blas_threads() == outside
    feats, mask = enc.frames(w, n)
    assert mask.sum(1).tolist() == [3, 1, 1] and torch.equal(feats[0, 1], enc.frames(w[:1, 48000 * 3:], n[:1] - 48000 * 3)[0][0, 0])
    assert capsys.readouterr().out.splitlines() == [
        "encoder=birdnet: litert on the CPU, 2 threads per process (2 interpreters of 1 thread side by side)",
        "encoder=birdnet: litert on the CPU, 1 thread per process"]


def test_cpu_threads_rule():
    assert base.cpu_threads(5) == 5
    assert base.cpu_threads(None) == base.cpu_threads(0) == torch.get_num_threads()


# ---------------------------------------------------------------- the batch stays where the adapter reads it

@pytest.mark.parametrize("name", list(ENCODERS))
def test_lightning_moves_a_batch_only_to_an_adapter_that_reads_it_there(name):
    """Lightning's predict loop moves each batch with the module's transfer_batch_to_device; to a device other than
    the CPU (meta here, the GPU on a GPU run) only the torch adapter's batch goes."""
    enc = encoder(name)
    assert enc.cpu_input == CPU_INPUT[name]
    b = {"wave": torch.zeros(2, 800), "length": torch.tensor([800, 400]), "sample_id": torch.arange(2),
         "ok": torch.ones(2, dtype=torch.bool)}
    moved = enc.transfer_batch_to_device(b, torch.device("meta"), 0)
    assert {v.device.type for v in moved.values()} == {"cpu" if enc.cpu_input else "meta"}
    assert enc.frontend.spectrogram(torch.zeros(1, enc.sr // 4)).device == enc.input_device   # display spectrograms


def test_a_mix_keeps_its_batch_on_the_cpu():
    """It resamples on the CPU; each member gets its waves where it reads them (mix.embed)."""
    from audioclust.embed.encoders.mix import MixEncoder

    mix = MixEncoder({"birdnet": encoder("birdnet"), "speaker": encoder("speaker")})
    moved = mix.transfer_batch_to_device({"wave": torch.zeros(1, 10)}, torch.device("meta"), 0)
    assert mix.cpu_input and moved["wave"].device.type == "cpu"


# ---------------------------------------------------------------- onnxruntime's providers

def test_speech_providers_follow_the_installed_build_and_the_device(monkeypatch):
    needs("speech")
    from audioclust.embed.encoders import speech
    from audioclust.embed.encoders.speech import CPU, CUDA, providers, why_not_cuda

    gpu, cpu = torch.device("cuda", 1), torch.device("cpu")
    assert providers(gpu, ["TensorrtExecutionProvider", CUDA, CPU]) == [(CUDA, {"device_id": 1}), CPU]
    assert providers(torch.device("cuda"), [CUDA, CPU]) == [(CUDA, {"device_id": 0}), CPU]
    assert providers(cpu, [CUDA, CPU]) == [CPU]                          # a CPU run keeps the CPU
    assert providers(gpu, ["AzureExecutionProvider", CPU]) == [CPU]      # the CPU build: no CUDA provider
    assert "CUDA provider did not load" in why_not_cuda([CUDA, CPU])
    monkeypatch.setattr(speech, "_installed", lambda dist: dist == "onnxruntime")
    assert why_not_cuda([CPU]).endswith("pip uninstall -y onnxruntime && pip install 'audioclust[speech-gpu]' "
                                        "&& pip install --no-deps openwakeword==0.4.0")
    monkeypatch.setattr(speech, "_installed", lambda dist: True)
    assert why_not_cuda([CPU]).startswith("onnxruntime and onnxruntime-gpu are both installed")


# ---------------------------------------------------------------- pickling (ddp_spawn)

@pytest.mark.parametrize("name", list(ENCODERS))
def test_a_pickled_encoder_builds_its_runtime_again_and_embeds_the_same(name):
    enc = encoder(name)
    w, n = batch([clip("chirp", enc.sr, 2.0), clip("noise", enc.sr, 0.5, seed=1)])
    z = enc.embed(w, n)   # BirdNET's interpreter and the speech model's sessions are built by now
    copy = pickle.loads(pickle.dumps(enc))
    assert copy._runtime is None
    assert torch.equal(copy.embed(w, n), z)


def test_a_pickled_mix_embeds_the_same():
    from audioclust.embed.encoders.mix import MixEncoder

    mix = MixEncoder({"birdnet": encoder("birdnet"), "speech": encoder("speech")})
    w, n = batch([clip("tone", 48000, 1.5), clip("noise", 48000, 3.5, seed=2)])
    z = mix.embed(w, n)
    assert torch.equal(pickle.loads(pickle.dumps(mix)).embed(w, n), z)


@pytest.mark.slow
def test_two_spawned_ranks_embed_as_one_process(tmp_path):
    """embed.strategy=ddp_spawn with the ONNX speech model: 2 CPU processes (each builds its sessions) give the
    embeddings of one process, every clip once."""
    from audioclust.data.datamodule import AudioDataModule
    from audioclust.embed.inference import embed
    from audioclust.embed.store import Store

    enc = build("speech", threads=1)
    for i, kind in enumerate(["tone", "chirp", "noise"] * 3):   # 9 clips: not divisible by 2 ranks
        (tmp_path / "clips").mkdir(exist_ok=True)
        sf.write(tmp_path / "clips" / f"c{i}.wav", clip(kind, 16000, 0.6 + 0.1 * i, seed=i), 16000)
    dm = AudioDataModule(root=str(tmp_path / "clips"), sr=16000, clip_seconds=1.0, labels={"source": "none"},
                         batch_size=2, num_workers=0)
    dm.setup("predict")
    one = embed(enc, dm, "cpu", progress=False)
    store = Store(tmp_path / "store", "speech", {"encoder": enc.identity()})
    two = embed(enc, dm, "cpu", progress=False, devices=2, strategy="ddp_spawn", store=store, out_dir=tmp_path / "rows")
    assert store.rows_by_rank(store.parts()).keys() == {0, 1}
    np.testing.assert_array_equal(two["sample_id"], np.arange(9))
    np.testing.assert_array_equal(np.asarray(two["embedding"]), one["embedding"])


# ---------------------------------------------------------------- on a GPU

@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ENCODERS))
def test_on_a_gpu_run_the_adapter_gets_its_waves_where_it_reads_them(name):
    """Lightning's predict on CUDA: BirdNET, speech and speaker get CPU batches (no GPU round trip), aisfx CUDA ones."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    import lightning as L

    needs(name)
    module, cls, _, _ = ENCODERS[name]
    adapter = getattr(importlib.import_module(f"audioclust.embed.encoders.{module}"), cls)
    seen = []

    class Seen(adapter):
        def frames(self, wave, lengths):
            seen.append(wave.device.type)
            return super().frames(wave, lengths)

    w, n = batch([clip("noise", adapter.sr, 1.0)] * 3)
    data = [{"wave": w[i:i + 2], "length": n[i:i + 2], "sample_id": torch.arange(i, min(i + 2, 3)),
             "ok": torch.ones(len(w[i:i + 2]), dtype=torch.bool)} for i in (0, 2)]
    trainer = L.Trainer(accelerator="gpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.predict(Seen(), dataloaders=torch.utils.data.DataLoader(data, batch_size=None))
    assert seen == ["cpu" if CPU_INPUT[name] else "cuda"] * 2


@pytest.mark.gpu
def test_speech_runs_on_cuda_with_onnxruntime_gpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    needs("speech")
    import onnxruntime as ort

    from audioclust.embed.encoders.speech import CUDA
    if CUDA not in ort.get_available_providers():
        pytest.skip("needs onnxruntime's GPU build: pip install 'audioclust[speech-gpu]'")
    w, n = batch([clip("noise", 16000, 2.0), clip("chirp", 16000, 0.7)])
    ref = build("speech", threads=1).embed(w, n)
    gpu = build("speech").to("cuda")
    z = gpu.embed(w, n)
    assert [s.get_providers()[0] for s in gpu.runtime] == [CUDA, CUDA]
    close(z, ref, rtol=1e-2, atol=1e-3)


def test_litert_says_nothing_of_its_own_on_the_screen():
    """litert's C++ prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to file descriptor 2 when the
    interpreter is built: the adapter keeps it off the user's screen (and Python's stderr works after)."""
    import subprocess
    import sys

    needs("birdnet")
    code = ("import sys, torch; from audioclust.embed.encoders.birdnet import BirdnetEncoder; "
            "e = BirdnetEncoder(threads=1); print(tuple(e.embed(torch.zeros(1, 48000)).shape)); print('after', file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "(1, 1024)" in p.stdout and p.stderr.strip() == "after"
