"""Shared by the bench scripts: the machine line (CPU, cores, load: the CPU may be shared), peak memory."""
from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from frontend import write_section  # noqa: E402,F401  (one writer of BENCHMARKS.md sections)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, cores, RAM, load average at the start (the machine may be shared)."""
    import torch

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{cpu_name()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, no GPU, torch {torch.__version__}; "
            f"load average at start {load} (machine shared with other work)")


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size (ru_maxrss) of this process, or of its finished children, in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
