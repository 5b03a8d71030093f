"""The whole cluster command on 10k, 100k and 1M windows of long recordings: time per stage, per window, peak RSS.

    python bench/scaling.py [--sizes 10000 100000 1000000] [--budget-s 2400]
Long 8 kHz recordings (500 s each, 5000 windows of 1 s every 0.1 s) hold six kinds of sound events (tones, a
chirp, a noise burst, a warble, clicks) placed at random over a low noise floor. A model is trained on a sample
(`train.py data=folder`, 1 epoch of `--train-batches` batches over the windows of 2 recordings), then each size
runs `python cluster.py run_dir=<that run> input=<the recordings>` with the cluster defaults (embedding, k-means,
plots, explorer, W&B offline; threads=1) in a fresh process under /usr/bin/time -v (peak RSS); the stage times
come from the run's timings.json. A size predicted (linearly from the previous one) to take more than --budget-s
is not run but listed with its prediction. Writes the section 'Scaling' of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from common import ROOT, machine, write_section

SR, FILE_SECONDS, HOP, WINDOWS_PER_FILE = 8000, 500.0, 0.1, 4991   # window_offsets(500, 1, 0.1): 4991 windows
STAGES = ("load", "embed", "cluster", "outputs", "plots", "map", "explorer", "wandb")


def event(kind: int, n: int, rng) -> np.ndarray:
    """One sound event of `kind` (0-5), n samples, with a smooth envelope."""
    t = np.arange(n) / SR
    f = [300, 700, 1500][kind] if kind < 3 else 0
    x = {3: lambda: np.sin(2 * np.pi * (400 * t + 1500 * t ** 2)),          # chirp up
         4: lambda: rng.standard_normal(n) * 0.6,                          # noise burst
         5: lambda: np.sin(2 * np.pi * 900 * t + 6 * np.sin(2 * np.pi * 9 * t))}.get(kind, lambda: np.sin(2 * np.pi * f * t))()
    return x * np.hanning(n)


def make_file(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal(int(SR * FILE_SECONDS))
    at = 0.0
    while True:
        at += rng.uniform(0.3, 1.5)
        n = int(SR * rng.uniform(0.3, 0.9))
        start = int(at * SR)
        if start + n > len(x):
            break
        x[start: start + n] += rng.uniform(0.1, 0.4) * event(int(rng.integers(6)), n, rng)
        at += n / SR
    sf.write(path, np.clip(x, -1, 1).astype(np.float32), SR, subtype="PCM_16")


def make_files(folder: Path, n_files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"rec_{i:04d}.wav" for i in range(n_files)]
    for i, p in enumerate(paths):
        if not p.exists():
            make_file(p, i)
    return paths


def linked(folder: Path, files: list[Path]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        if not (folder / f.name).exists():
            (folder / f.name).symlink_to(f)
    return folder


def timed(args: list[str], cwd: Path, log: Path) -> dict:
    """Run `python args...` under /usr/bin/time -v; wall seconds and peak RSS (MiB) of the process."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.run(["/usr/bin/time", "-v", sys.executable, *args], cwd=cwd, env=env, stdout=f,
                           stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    text = log.read_text()
    if p.returncode:
        sys.exit(f"{args[0]} failed ({p.returncode}), log {log}:\n{text[-3000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    return {"wall_s": wall, "peak_rss_mb": rss}


def train(work: Path, files: list[Path], batches: int) -> tuple[Path, dict]:
    run = work / "train"
    shutil.rmtree(run, ignore_errors=True)   # a run left in --work would resume, not train
    r = timed([str(ROOT / "train.py"), "data=folder", f"data.root={linked(work / 'train_data', files)}",
               f"data.sr={SR}", "data.clip_seconds=1.0", f"data.hop_seconds={HOP}", "data.n_clusters=6",
               "trainer.max_epochs=1", f"+trainer.limit_train_batches={batches}", "+trainer.limit_val_batches=10",
               "threads=1", "progress=false", f"paths.cache_dir={work}/cache", f"hydra.run.dir={run}"],
              work, work / "train.log")
    return run, r


def cluster(work: Path, run: Path, folder: Path, n: int) -> dict:
    out = work / f"fit{n}"
    shutil.rmtree(out, ignore_errors=True)
    r = timed([str(ROOT / "cluster.py"), f"run_dir={run}", f"input={folder}", "threads=1", "progress=false",
               f"hydra.run.dir={out}"], work, work / f"cluster{n}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    timings = json.loads((out / "timings.json").read_text())
    return {**r, "n": metrics["n_clips"], "stages": timings["stages_s"], "total_s": timings["total_s"],
            "page_mb": (out / "explorer.html").stat().st_size / 2 ** 20,
            "embed_mb": (out / "embeddings.npy").stat().st_size / 2 ** 20}


LINEAR = ("load", "embed", "cluster", "outputs")   # stages that grow with the windows; the others draw bounded samples


def predict(r: dict, n: int) -> float:
    """Wall seconds for n windows from a run r: its linear stages scaled, the rest (bounded samples, start-up) kept."""
    linear = sum(r["stages"].get(s, 0) for s in LINEAR)
    return r["wall_s"] + linear * (n / r["n"] - 1)


def row(r: dict, first: dict) -> str:
    per = 1e3 * r["wall_s"] / r["n"]
    first_per = 1e3 * first["wall_s"] / first["n"]
    stages = " | ".join(f"{r['stages'].get(s, 0):.1f}" for s in STAGES)
    return (f"| {r['n']:,} | {r['wall_s']:.0f} | {stages} | {per:.3f} ({per / first_per:.2f}x) | "
            f"{r['peak_rss_mb']:,.0f} ({r['peak_rss_mb'] / first['peak_rss_mb']:.2f}x) | {r['page_mb']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--budget-s", type=float, default=2400, help="skip (and extrapolate) sizes predicted beyond this")
    ap.add_argument("--train-batches", type=int, default=100)
    ap.add_argument("--work", help="keep the recordings and runs here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        files = make_files(work / "recordings", -(-max(args.sizes) // WINDOWS_PER_FILE))
        run, tr = train(work, files[:2], args.train_batches)
        print(f"train: {tr['wall_s']:.0f} s, peak RSS {tr['peak_rss_mb']:,.0f} MiB", flush=True)
        results, rows = [], []
        for n in sorted(args.sizes):
            n_files = -(-n // WINDOWS_PER_FILE)
            if results and predict(results[-1], n) > args.budget_s:
                rows.append(f"| {n:,} | not run: ~{predict(results[-1], n):,.0f} s predicted (from {results[-1]['n']:,}: "
                            f"{', '.join(LINEAR)} linear, the rest as measured), over the {args.budget_s:.0f} s budget |"
                            + " |" * (len(STAGES) + 3))
                continue
            r = cluster(work, run, linked(work / f"n{n}", files[:n_files]), n)
            results.append(r)
            rows.append(row(r, results[0]))
            print(rows[-1], json.dumps(r), flush=True)
    header = "| windows | wall (s) | " + " | ".join(f"{s} (s)" for s in STAGES) + \
             " | ms per window (vs first) | peak RSS MiB (vs first) | explorer.html (MiB) |"
    text = "\n".join([
        f"## Scaling ({machine()})", "",
        f"`python cluster.py run_dir=<run> input=<recordings> threads=1` with the cluster defaults (embedding, k-means "
        f"with k from the run's data config, 6; plots, explorer, W&B offline), each size in a fresh process; windows of 1 s every {HOP} s of "
        f"{FILE_SECONDS:.0f} s 8 kHz recordings ({WINDOWS_PER_FILE} windows each) of six kinds of sound events over a "
        "noise floor. Stage times from the run's timings.json; wall and peak RSS of the whole process from "
        "/usr/bin/time -v. `bench/scaling.py` makes the data and runs it.", "",
        f"Training on a sample (`train.py data=folder`, 2 recordings, 1 epoch of {args.train_batches} batches of 64 "
        f"windows): {tr['wall_s']:.0f} s, peak RSS {tr['peak_rss_mb']:,.0f} MiB.", "",
        header, "|" + "---|" * (len(STAGES) + 5), *rows, ""])
    write_section("Scaling", text)
    print(text)


if __name__ == "__main__":
    main()
