"""Which FAISS is installed: exactly one of the `cpu` (faiss-cpu) and `gpu` (faiss-gpu-cu12 / -cu11) extras.

Both wheels install the same module `faiss`, so with both present one silently shadows the other; with
none, k-means cannot run. Either way the cluster task stops at start with one line saying what to do.
"""
from __future__ import annotations

from importlib import metadata

from audioclust.errors import ConfigError

CPU, GPU = ("faiss-cpu",), ("faiss-gpu-cu12", "faiss-gpu-cu11", "faiss-gpu")


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


def load_faiss():
    """The `faiss` module, after checking that one FAISS wheel provides it; a ConfigError names the fix."""
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
