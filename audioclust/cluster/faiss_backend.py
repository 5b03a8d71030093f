"""Which FAISS is installed: exactly one of the `cpu` (faiss-cpu) and `gpu` (faiss-gpu; older: faiss-gpu-cu12) extras.

Both wheels install the same module `faiss`, so with both present one silently shadows the other; with
none, k-means cannot run. Either way the cluster task stops at start with one line saying what to do.

A GPU build may lack kernels for the GPU at hand (faiss-gpu-cu12 1.14 has cubins for sm_70 and sm_80 only, no PTX:
its first GPU call on an H100 aborts the process, "no kernel image is available"), so gpu_problem() first runs a
tiny k-means and search on the GPU in a fresh Python process, once per process.
"""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from importlib import metadata

from audioclust.errors import ConfigError

CPU = ("faiss-cpu",)
GPU = ("faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu11", "faiss-gpu-cu12-cuvs", "faiss-cuda")   # all install `faiss`

# A cold CUDA start, or PTX compiled for a GPU newer than the build's cubins, takes seconds to minutes: a hang ends here.
PROBE_TIMEOUT_S = 300
# Run by a fresh interpreter (never a fork: FAISS with CUDA in a forked process can hang). It prints the GPU's
# arch first (CUDA driver API, no context), so the message names it even when FAISS then aborts the process.
PROBE = """
import ctypes
try:
    cu, major, minor = ctypes.CDLL("libcuda.so.1"), ctypes.c_int(), ctypes.c_int()
    if cu.cuInit(0) == 0 and cu.cuDeviceGetAttribute(ctypes.byref(major), 75, 0) == 0:   # compute capability
        cu.cuDeviceGetAttribute(ctypes.byref(minor), 76, 0)
        print(f"sm_{major.value}{minor.value}", flush=True)
except (OSError, AttributeError):
    pass
import faiss
import numpy as np
assert faiss.get_num_gpus() > 0, "this FAISS sees no GPU"   # else Kmeans(gpu=True) quietly runs on the CPU
x = np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32)
km = faiss.Kmeans(16, 8, niter=3, seed=0, gpu=True)
km.train(x)
labels = km.index.search(x[:200], 1)[1][:, 0]
nearest = ((x[:200, None] - km.centroids[None]) ** 2).sum(-1).argmin(1)
assert (labels == nearest).mean() > 0.95, "GPU search disagrees with numpy"
"""


def installed_wheels() -> list[str]:
    """The FAISS distributions pip has installed (by name), in a stable order."""
    found = []
    for name in CPU + GPU:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def openblas_coretype(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """Call before FAISS is first imported. The OpenBLAS bundled in FAISS's wheels (0.3.15 in faiss-cpu 1.15) does
    not know Intel CPUs newer than it (Sapphire Rapids and later) and falls back to its SSE3 (Prescott) kernels:
    every FAISS search and k-means iteration 2-3x slower (bench/kmeans.py). On an Intel x86-64 Linux CPU this sets
    OPENBLAS_CORETYPE to the kernels its instruction set runs (SkylakeX with AVX-512, Haswell with AVX2 and FMA),
    which OpenBLAS picks for such CPUs when it knows them; numpy's OpenBLAS, loaded already, is unaffected. Left
    alone: a value the user set, FAISS already imported, other CPUs. Returns the value set, or None."""
    if "faiss" in sys.modules or "OPENBLAS_CORETYPE" in os.environ:
        return None
    try:
        with open(cpuinfo) as f:
            head = f.read(1 << 16).split("\n\n")[0]   # the first CPU
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in head.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    if fields.get("vendor_id") != "GenuineIntel":
        return None
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        core = "SkylakeX"
    elif {"avx2", "fma"} <= flags:
        core = "Haswell"
    else:
        return None
    os.environ["OPENBLAS_CORETYPE"] = core
    return core


def load_faiss():
    """The `faiss` module, after checking that one FAISS wheel provides it; a ConfigError names the fix."""
    openblas_coretype()
    wheels = installed_wheels()
    cpu, gpu = [w for w in wheels if w in CPU], [w for w in wheels if w in GPU]
    if cpu and gpu:
        raise ConfigError(f"both {cpu[0]} and {gpu[0]} are installed and shadow each other: "
                          f"keep one (pip uninstall -y {cpu[0]} for the GPU build)")
    try:
        import faiss
    except ImportError as exc:
        raise ConfigError("FAISS is not importable: pip install 'audioclust[cpu]' (or 'audioclust[gpu]' on a "
                          f"CUDA 12 machine) ({exc})") from None
    return faiss


@functools.cache
def gpu_problem() -> tuple[str, str] | None:
    """None when FAISS ran PROBE on the visible GPU, else (what failed, the short reason): once per process."""
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out, err, why = e.stdout, e.stderr, f"no answer in {PROBE_TIMEOUT_S} s"
    else:
        if r.returncode == 0:
            return None
        out, err = r.stdout, r.stderr
        why = f"exit status {r.returncode}"
        if -r.returncode in set(signal.Signals):
            why = f"killed by {signal.Signals(-r.returncode).name}"
    out, err = (t.decode(errors="replace") if isinstance(t, bytes) else t or "" for t in (out, err))
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    said = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
    said = said[said.find("CUDA error"):] if "CUDA error" in said else said   # not the C++ signature before it
    why = f"{said[:200]}; {why}" if said else why
    gpu = f"this GPU ({out.split()[0]})" if out.startswith("sm_") else "this GPU"
    if "no kernel image" in err:
        return f"FAISS GPU build has no kernels for {gpu}", why
    return f"FAISS failed a test k-means on {gpu}", why


@functools.cache
def gpu_works() -> bool:
    """gpu_problem() is None; else prints once that CPU FAISS is used, and why."""
    problem = gpu_problem()
    if problem:
        print(f"{problem[0]}: using CPU FAISS ({problem[1]})")
    return problem is None
