"""FAISS is tried on the GPU in a fresh process before its first GPU call: a probe that fails (exit, crash, hang) means
CPU FAISS with one printed line (kmeans.gpu=auto) or a one-line ConfigError (kmeans.gpu=true); without a GPU nothing
is tried. Here (no GPU) the GPU is simulated and the probe replaced by programs that fail as a build without
kernels for the GPU does; the last test runs the real probe on a real GPU."""
import numpy as np
import pytest

from audioclust.cluster import faiss_backend, kmeans
from audioclust.errors import ConfigError

NO_KERNEL = """import os, sys
open({log!r}, "a").write("probed\\n")
print("sm_90", flush=True)
sys.stderr.write("terminate called after throwing an instance of 'faiss::FaissException'\\n  what():  Error in void "
                 "faiss::gpu::runL2Norm(...) at faiss/gpu/impl/L2Norm.cu:253: Error: 'err == cudaSuccess' failed: "
                 "CUDA error 209 no kernel image is available for execution on the device\\n")
sys.stderr.flush()
os.abort()
"""
RAISES = 'open({log!r}, "a").write("probed\\n")\nraise RuntimeError("out of memory")\n'
HANGS = 'open({log!r}, "a").write("probed\\n")\nimport time\ntime.sleep(60)\n'
LINES = {"crash": "FAISS GPU build has no kernels for this GPU (sm_90): using CPU FAISS (CUDA error 209 no kernel image "
                  "is available for execution on the device; killed by SIGABRT)",
         "error": "FAISS failed a test k-means on this GPU: using CPU FAISS (RuntimeError: out of memory; exit status 1)",
         "hang": "FAISS failed a test k-means on this GPU: using CPU FAISS (no answer in 2 s)"}


@pytest.fixture
def fresh_probe(monkeypatch):
    """The probe's cached answer forgotten before and after the test."""
    for f in (faiss_backend.gpu_problem, faiss_backend.gpu_works):
        f.cache_clear()
    yield
    for f in (faiss_backend.gpu_problem, faiss_backend.gpu_works):
        f.cache_clear()


@pytest.fixture
def fake_gpu(monkeypatch, fresh_probe):
    import faiss

    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1, raising=False)


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=20, size=(6, 8)).astype(np.float32)
    return centres, (centres[np.repeat(np.arange(6), 200)] + rng.normal(size=(1200, 8))).astype(np.float32)


@pytest.mark.parametrize("failure", ["crash", "error", "hang"])
def test_a_failing_probe_means_cpu_faiss_and_one_line(failure, fake_gpu, monkeypatch, capsys, tmp_path):
    log = tmp_path / "probes.log"
    monkeypatch.setattr(faiss_backend, "PROBE", {"crash": NO_KERNEL, "error": RAISES, "hang": HANGS}[failure].format(log=str(log)))
    monkeypatch.setattr(faiss_backend, "PROBE_TIMEOUT_S", 2)
    centres, x = blobs()
    cen = kmeans.fit_kmeans(x, 6, niter=20, nredo=2, init="greedy", gpu="auto", refine=1)   # training, restarts, refine
    labels, _ = kmeans.assign(x, cen, gpu="auto")
    assert kmeans.use_gpu("auto") is False
    # the right centroids, on CPU: each true centre has a fitted one within 0.3 (the blobs' noise is 1 per dimension)
    assert np.linalg.norm(centres[:, None] - cen[None], axis=2).min(1).max() < 0.3
    assert len(set(labels[np.arange(0, 1200, 200)])) == 6
    assert capsys.readouterr().out.splitlines() == [LINES[failure]]
    assert log.read_text() == "probed\n"   # once per process


def test_the_real_probe_fails_cleanly_on_cpu_faiss(fake_gpu, capsys):
    """The shipped probe, run against this machine's CPU FAISS (no GPU code): a failure, reported in one line."""
    assert kmeans.use_gpu("auto") is False
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("FAISS failed a test k-means on this GPU: using CPU FAISS (") and line.endswith("exit status 1)")


def test_gpu_true_with_a_failing_probe_is_a_config_error(fake_gpu, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(faiss_backend, "PROBE", NO_KERNEL.format(log=str(tmp_path / "probes.log")))
    with pytest.raises(ConfigError, match=r"^kmeans.gpu=true but FAISS GPU build has no kernels for this GPU \(sm_90\) "
                                          r"\(CUDA error 209 .*; killed by SIGABRT\): use kmeans.gpu=auto") as e:
        kmeans.fit_kmeans(blobs()[1], 6, gpu=True)
    assert "\n" not in str(e.value) and capsys.readouterr().out == ""


def test_without_a_gpu_nothing_is_probed(fresh_probe, monkeypatch):
    import faiss

    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is visible")

    def no_probe(*args, **kwargs):
        raise AssertionError("probed without a GPU")

    monkeypatch.setattr(faiss_backend.subprocess, "run", no_probe)
    centres, x = blobs(1)
    cen = kmeans.fit_kmeans(x, 6, niter=20, init="greedy", gpu="auto")
    assert np.linalg.norm(centres[:, None] - cen[None], axis=2).min(1).max() < 0.3
    with pytest.raises(ConfigError, match="FAISS sees no GPU"):
        kmeans.use_gpu(True)


@pytest.mark.gpu
def test_the_real_probe_passes_on_a_real_gpu(fresh_probe):
    import faiss

    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("no GPU visible to FAISS")
    assert faiss_backend.gpu_problem() is None
    assert kmeans.use_gpu("auto") is True and kmeans.use_gpu(True) is True
