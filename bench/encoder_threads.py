"""Threads of the CPU runtimes: BirdNET (ai-edge-litert) and the speech model (onnxruntime) at 1 thread and at
every core, the same clips, side by side in one run.

    python bench/encoder_threads.py [--clips 8] [--seconds 5] [--repeats 9] [--out FILE]

Each encoder embeds --clips clips of noise (--seconds long, one batch, as predict gives them); after one warm-up
call per thread count (litert plans its graph on the first invoke), the thread counts take turns for --repeats
rounds and the table gives the median rate in model windows per second (BirdNET: 3 s chunks; speech: 775 ms
windows every 80 ms, the adapter's sweep included). Writes BENCHMARKS.md, section "CPU runtimes' threads".
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from common import machine, write_section

from audioclust.embed.encoders.birdnet import BirdnetEncoder
from audioclust.embed.encoders.speech import SpeechEmbeddingEncoder


def rates(make, sr: int, clips: int, seconds: float, counts: list[int], repeats: int) -> tuple[int, dict[int, float]]:
    rng = np.random.default_rng(0)
    wave = torch.from_numpy((0.3 * rng.standard_normal((clips, int(sr * seconds)))).astype(np.float32))
    lengths = torch.full((clips,), wave.shape[1])
    encoders = {t: make(t) for t in counts}
    windows = int(encoders[counts[0]].frames(wave, lengths)[1].sum())   # also the warm-up of the first
    for t in counts[1:]:
        encoders[t].frames(wave, lengths)
    seen: dict[int, list[float]] = {t: [] for t in counts}
    for _ in range(repeats):
        for t in counts:
            start = time.perf_counter()
            encoders[t].frames(wave, lengths)
            seen[t].append(windows / (time.perf_counter() - start))
    return windows, {t: statistics.median(v) for t, v in seen.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    a = p.parse_args()
    torch.set_num_threads(1)
    counts = sorted({1, os.cpu_count() or 1})
    rows = []
    for name, make, sr in [("birdnet (litert)", lambda t: BirdnetEncoder(threads=t), 48000),
                           ("speech (onnxruntime)", lambda t: SpeechEmbeddingEncoder(threads=t), 16000)]:
        windows, r = rates(make, sr, a.clips, a.seconds, counts, a.repeats)
        rows.append(f"| {name} | {windows} | " + " | ".join(f"{r[t]:,.0f}" for t in counts)
                    + f" | {r[counts[-1]] / r[counts[0]]:.2f}x |")
    head = " | ".join(f"{t} thread{'s' * (t > 1)}: windows/s" for t in counts)
    table = [f"## CPU runtimes' threads ({machine()})", "",
             f"`python bench/encoder_threads.py --clips {a.clips} --seconds {a.seconds:g} --repeats {a.repeats}`: "
             f"{a.clips} clips of {a.seconds:g} s noise in one batch, median of {a.repeats} alternating rounds after a "
             "warm-up. The runtimes take the run's `threads=` (unset: torch's count, the cores per process); "
             "BirdNET's embeddings are the same bytes at any count, the speech model's within ~1e-5.", "",
             f"| encoder | windows | {head} | ratio |", "|---|---|" + "---|" * len(counts) + "---|", *rows]
    text = "\n".join(table) + "\n"
    write_section("CPU runtimes' threads", text, a.out)
    print(text)


if __name__ == "__main__":
    main()
