"""Training throughput (blocks per second) versus batch size, and 1 versus 2 DDP processes (gloo, CPU), one run.

    python bench/train_throughput.py [--clips 1500] [--batches 16 64 256]
The FSDD experiment (data, front end, model) as train.py builds it: decode + spectrogram + blocks + forward +
backward + optimizer step, one epoch, the first 3 steps not timed. DDP: data.batch_size is per process (the
global batch is processes x batch). Writes the section 'Training throughput' of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    args = ap.parse_args()
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
