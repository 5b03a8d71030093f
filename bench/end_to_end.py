"""End to end on FSDD as a user runs it: train.py experiment=fsdd, then cluster.py; wall time, peak memory, scores.

    python bench/end_to_end.py [extra train.py overrides]
Each command is timed as a whole (start-up included) and its peak RSS read from the kernel (wait4 rusage).
Writes the section 'End to end (FSDD)' of BENCHMARKS.md.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, write_section

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"


def timed(args: list[str], log: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one command run as a child process."""
    t = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                             env=dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true"))
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        sys.exit(f"{args[0]} failed:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - t, usage.ru_maxrss / 1024


def main() -> None:
    if not FSDD.is_dir():
        sys.exit(f"FSDD not found at {FSDD}")
    extra, host = sys.argv[1:], machine()  # load average before the run
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        t_train, m_train = timed(["train.py", "experiment=fsdd", f"data.root={FSDD}", f"hydra.run.dir={run}",
                                  *extra], Path(tmp) / "train.log")
        t_cl, m_cl = timed(["cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit"], Path(tmp) / "cluster.log")
        scores = json.loads((run / "fit" / "metrics.json").read_text())
        # the same embeddings clustered with the former k-means defaults (50 iterations), for the quality check
        t_old, _ = timed(["cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit50", "kmeans.niter=50",
                          "report.plots=false", "report.explorer=false", "wandb.enabled=false"],
                         Path(tmp) / "cluster50.log")
        old = json.loads((run / "fit50" / "metrics.json").read_text())
    total = t_train + t_cl
    quality = ", ".join(f"{k.upper()} {scores[k]:.3f}" for k in ("acc", "nmi", "ari") if scores.get(k) is not None)
    text = "\n".join([
        f"## End to end (FSDD) ({host})", "",
        f"`python train.py experiment=fsdd {' '.join(extra)}` then `python cluster.py run_dir=...` (defaults: "
        "W&B offline, plots, explorer.html), each timed as a whole, start-up included, peak RSS from wait4; "
        f"{scores.get('n_clips')} clips, k={scores.get('k')}; scores against the digit labels: {quality}.", "",
        "| step | wall time (s) | peak RSS (MiB) |", "|---|---|---|",
        f"| train (10 epochs) | {t_train:.1f} | {m_train:,.0f} |", f"| embed + cluster + report | {t_cl:.1f} | {m_cl:,.0f} |",
        f"| total | {total:.1f} ({total / 60:.1f} min; target < 5 min) | {max(m_train, m_cl):,.0f} |", "",
        f"k-means defaults check, same embeddings: kmeans.niter=20 (default) ACC {scores.get('acc', 0):.3f} / NMI "
        f"{scores.get('nmi', 0):.3f}; kmeans.niter=50: ACC {old.get('acc', 0):.3f} / NMI {old.get('nmi', 0):.3f} "
        f"({t_old:.1f} s without plots).", ""])
    write_section("End to end (FSDD)", text)
    print(text)


if __name__ == "__main__":
    main()
