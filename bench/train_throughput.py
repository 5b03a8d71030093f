"""Training throughput (blocks per second) versus batch size, and 1 versus 2 DDP processes (gloo, CPU), one run.

    python bench/train_throughput.py [--clips 1500] [--batches 16 64 256]
    python bench/train_throughput.py --workers [--repeats 5]
The FSDD experiment (data, front end, model) as train.py builds it: decode + spectrogram + blocks + forward +
backward + optimizer step, one epoch, the first 3 steps not timed. DDP: data.batch_size is per process (the
global batch is processes x batch). Writes the section 'Training throughput' of BENCHMARKS.md.
--workers: data.num_workers=auto (none on CPU) against cores - 1 workers (auto on a GPU), side by side
(alternating, median of --repeats), two epochs of train.py's loop timed from the start of fit (worker start-up and
validation included), and the embedding pass; writes the section 'Data loader workers'.
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
from common import ROOT, machine, write_section

SKIP = 3


class Throughput(L.Callback):
    """Rank 0 writes {blocks_per_s, steps} (all ranks' blocks) measured after SKIP warm-up steps."""

    def __init__(self, out: str):
        self.out, self.t0, self.clips = out, None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == SKIP:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= SKIP:
            self.clips += len(batch["wave"]) * trainer.world_size
            self.t1 = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.is_global_zero and self.t0 is not None:
            rate = self.clips * pl_module.frontend.n_blocks / (self.t1 - self.t0)
            Path(self.out).write_text(json.dumps({"blocks_per_s": rate, "clips": self.clips}))


def measure(batch: int, devices: int, clips: int, out: str, threads: int = 1) -> dict:
    import torch
    from hydra import compose, initialize_config_dir

    from audioclust.tasks.builders import build_model

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=fsdd", f"data.batch_size={batch}", f"data.max_files={clips}",
                                          f"data.root={ROOT.parent / 'shared/data/fsdd/recordings'}"])
    from hydra.utils import instantiate

    torch.set_num_threads(threads)  # DDP on CPU: Lightning gives each process cores / processes threads (1 here)
    dm, model = instantiate(cfg.data), build_model(cfg)
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                        max_epochs=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Throughput(out)])
    trainer.fit(model, datamodule=dm)
    return json.loads(Path(out).read_text())


WAIT = "[_TrainingEpochLoop].train_dataloader_next"   # SimpleProfiler's record of the loop waiting for a batch


class EpochClock(L.Callback):
    """Wall-clock seconds from the start of fit (before the loaders' workers start) to the end of each epoch (its
    validation included), and the seconds the training loop waited for its batches in each epoch."""

    def __init__(self):
        self.marks, self.waits = [], []

    def on_fit_start(self, trainer, pl_module):
        self.marks, self.waits = [time.perf_counter()], [0.0]

    def on_train_epoch_end(self, trainer, pl_module):
        self.marks.append(time.perf_counter())
        self.waits.append(sum(trainer.profiler.recorded_durations[WAIT]))


FSDD = str(ROOT.parent / "shared/data/fsdd/recordings")
# (name, train.py overrides); "{flac}": the generated set written as 44.1 kHz 24-bit FLAC (decoded and resampled)
WORKER_SETS = (("generated set (train.py defaults), 600 clips, batch 64", []),
               ("generated set as 44.1 kHz FLAC (decode + resample to 16 kHz), 600 clips, batch 64",
                ["data=folder", "data.root={flac}", "data.hop_seconds=null"]),
               ("FSDD experiment, 1000 clips, batch 64", ["experiment=fsdd", f"data.root={FSDD}", "data.max_files=1000"]),
               ("FSDD experiment, 80 clips, batch 16 (debug-sized)",
                ["experiment=fsdd", f"data.root={FSDD}", "data.max_files=80", "data.batch_size=16"]))


def _compose(overrides: list[str], workers, cache: str):
    from hydra import compose, initialize_config_dir

    overrides = [o.replace("{flac}", f"{cache}/flac") for o in overrides]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[*overrides, f"data.num_workers={workers}", f"paths.cache_dir={cache}"])


def write_flac(cache: str) -> None:
    """The generated set (made by a first run) again as 44.1 kHz 24-bit FLAC under cache/flac."""
    import soundfile as sf
    import soxr

    for p in sorted(Path(cache, "synthetic").rglob("*.wav")):
        x, sr = sf.read(p, dtype="float32")
        out = Path(cache, "flac", p.parent.name, p.stem + ".flac")
        out.parent.mkdir(parents=True, exist_ok=True)
        sf.write(out, soxr.resample(x, sr, 44100), 44100, subtype="PCM_24")


def fit_epochs(overrides: list[str], workers, cache: str, epochs: int = 2) -> tuple[list[float], list[float], int]:
    """Seconds of each of `epochs` epochs of train.py's loop (the first includes worker start-up), the seconds
    the loop waited for data in each, and the blocks of one training epoch."""
    from hydra.utils import instantiate
    from lightning.pytorch.profilers import SimpleProfiler

    from audioclust.tasks.builders import build_model

    cfg = _compose(overrides, workers, cache)
    dm, model, clock = instantiate(cfg.data), build_model(cfg), EpochClock()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[clock],
                        profiler=SimpleProfiler())
    trainer.fit(model, datamodule=dm)
    n, b = len(dm.train_ids), dm.batch_size
    blocks = (n // b * b if n > b else n) * model.frontend.n_blocks   # the loader drops a last partial batch
    seconds = [b - a for a, b in zip(clock.marks, clock.marks[1:])]
    waits = [b - a for a, b in zip(clock.waits, clock.waits[1:])]
    del trainer, dm, model
    gc.collect()
    return seconds, waits, blocks


def embed_seconds(overrides: list[str], workers, cache: str) -> tuple[float, int]:
    """Seconds of the embedding pass (Lightning predict, cluster.py's embed()) over every clip, FAISS imported
    first as cluster.py does, and its blocks."""
    import faiss  # noqa: F401
    from hydra.utils import instantiate

    from audioclust.embed.inference import embed
    from audioclust.tasks.builders import build_model

    cfg = _compose(overrides, workers, cache)
    dm, model = instantiate(cfg.data), build_model(cfg).eval()
    dm.prepare_data()
    dm.setup("predict")
    t = time.perf_counter()
    out = embed(model, dm, device="cpu", progress=False)
    seconds = time.perf_counter() - t
    n = len(out["sample_id"]) * model.frontend.n_blocks
    del dm, model, out
    gc.collect()
    return seconds, n


def workers_table(repeats: int) -> str:
    """auto (none on CPU) against cores - 1 workers (auto's choice on a GPU), alternating, medians."""
    import torch

    from audioclust.data.datamodule import auto_workers, cores_per_rank

    torch.set_num_threads(1)   # as the rows above; the main process keeps one core, a worker can take the other
    cores = cores_per_rank(1)
    gpu_rule = auto_workers(cores, 100, cuda=True)
    med = statistics.median
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for name, overrides in WORKER_SETS:
            if "{flac}" in " ".join(overrides):
                write_flac(cache)
            fit_epochs(overrides, 0, cache, epochs=1)   # untimed: generates the set, fills the index cache
            runs = {"auto": [], gpu_rule: []}
            for _ in range(repeats):   # alternating, so that a burst of other work on the machine hits both
                for w in runs:
                    runs[w].append(fit_epochs(overrides, w, cache))
            blocks = runs["auto"][0][2]
            for epoch, what in ((0, "train, 1st epoch (decoding; workers start)"), (1, "train, 2nd epoch (clip cache)")):
                rate = {w: med(blocks / r[0][epoch] for r in rs) for w, rs in runs.items()}
                wait = {w: med(r[1][epoch] for r in rs) for w, rs in runs.items()}
                rows.append(f"| {name} | {what} | {rate['auto']:,.0f} | {rate[gpu_rule]:,.0f} | "
                            f"{rate[gpu_rule] / rate['auto']:.2f}x | {wait['auto']:.2f} / {wait[gpu_rule]:.2f} |")
                print(rows[-1], flush=True)
            runs = {"auto": [], gpu_rule: []}
            for _ in range(repeats):
                for w in runs:
                    runs[w].append(embed_seconds(overrides, w, cache))
            rate = {w: med(n / s for s, n in rs) for w, rs in runs.items()}
            rows.append(f"| {name} | embed (predict, all clips) | {rate['auto']:,.0f} | {rate[gpu_rule]:,.0f} | "
                        f"{rate[gpu_rule] / rate['auto']:.2f}x | |")
            print(rows[-1], flush=True)
    return workers_text(rows, repeats, cores, gpu_rule)


def workers_text(rows: list[str], repeats: int, cores: int, gpu_rule: int) -> str:
    return "\n".join([
        f"## Data loader workers ({machine()})", "",
        f"`python bench/train_throughput.py --workers --repeats {repeats}`: `data.num_workers=auto`, which starts no "
        f"worker when the model runs on CPU, against {gpu_rule} worker per rank, what auto starts on a GPU here "
        f"({cores} cores, 1 rank: cores - 1), in the same run, alternating, median of {repeats}; torch on 1 intra-op "
        "thread, so the worker has a core of its own. Train: blocks/s of wall time from the start of fit to each "
        "epoch's end (the worker's start, the sanity check and validation included; the clip cache, data.cache_mb, "
        "fills in the 1st epoch), and the seconds the training loop waited for its batches (Lightning's "
        "SimpleProfiler). Embed: every clip through cluster.py's embed() with an untrained model.", "",
        f"| data | loop | blocks/s, auto (0 on CPU) | blocks/s, {gpu_rule} worker | {gpu_rule} worker vs auto | "
        f"s waiting for data, auto / {gpu_rule} worker |", "|---|---|---|---|---|---|", *rows, "",
        "On 16-bit WAV at the model's rate (the generated set, FSDD) decoding is 1-4% of a CPU step and handing each "
        "batch over from a worker costs as much or more: the worker's runs were 0.38-0.99x, the short passes (embedding, "
        "the debug-sized set) the slowest; hence no workers on CPU. On FLAC resampled from 44.1 kHz decoding is about "
        "12% of a step and the worker's runs were 1.01-1.24x: on CPU, `data.num_workers=1` pays for such folders. On a "
        "GPU the step is short and decoding the limit (docs/scale.md).", ""])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--workers", action="store_true", help="num_workers=auto against cores - 1 (section 'Data loader workers')")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.workers:
        text = workers_table(args.repeats)
        write_section("Data loader workers", text)
        print(text)
        return
    rows, base = [], None
    with tempfile.TemporaryDirectory() as tmp:
        runs = [(b, 1, 1) for b in args.batches] + [(64, 1, 2), (16, 2, 1), (64, 2, 1)]
        for b, dev, th in runs:
            r = measure(b, dev, args.clips, f"{tmp}/r{b}_{dev}_{th}.json", th)
            base = base or r["blocks_per_s"]
            rows.append(f"| {dev} | {th} | {b} | {b * dev} | {r['blocks_per_s']:,.0f} | "
                        f"{r['blocks_per_s'] / base:.2f}x |")
            print(rows[-1], flush=True)
    text = "\n".join([f"## Training throughput ({machine()})", "",
                      f"FSDD experiment config, {args.clips} files (90% train), one epoch (decoding included: the clip cache fills "
                      f"during the first epoch), first {SKIP} steps "
                      "untimed; blocks/s counts every process's blocks. 2 processes: DDP over gloo "
                      "(Lightning ddp_spawn on CPU; `trainer=ddp_cpu` runs the same strategy through train.py). "
                      "On 2 shared cores, 2 processes compete with each other and with other work.", "",
                      "torch threads per process: 1 unless said; with 2 intra-op threads one process was several "
                      "times slower on this loaded machine (set `threads=1` on a shared CPU).", "",
                      "| processes | torch threads each | batch per process | global batch | blocks/s | vs first row |",
                      "|---|---|---|---|---|---|", *rows, ""])
    write_section("Training throughput", text)
    print(text)


if __name__ == "__main__":
    main()
