"""Reduced precision (encoder.precision): aisfx's network in float32 against its default (auto: bfloat16 autocast
with channels-last weights where the device computes bf16 natively), side by side in one run: embedding speed,
5-seed NMI, and how far the embeddings move.

    python bench/precision.py                         # every set of bench/combine.py and a 120 s recording, 20 seeds
    python bench/precision.py --data drums --seeds 0 1

Per set, through the public API as a user embeds (audioclust.embed with encoder_options={"precision": ...}, the
folder defaults and each set's windowing as bench/combine.py reads it), no store (everything embedded), 1 thread,
one warm-up run on 2 files first (not counted), then audioclust.cluster with the defaults (preprocess l2, UMAP,
k-means, k = the classes) over the seeds. Cosine: between each file's two embeddings (min and mean). The noise
floor: the float32 embeddings moved by random noise of bf16's size (each row by Gaussian noise of norm = its
distance to the bf16 row, --draws draws), clustered with the same seeds: what a change of rounding alone does to
NMI, as float32 on another CPU or a GPU would. A set counts against bf16 where its change is below -0.01 and below
every draw's. A long
recording (--long-seconds of drum hits and silence, written to a temp folder, as bench/encoder_profile.py makes
it) measures the speed of its 1 s rows. Labels only score.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from assign import nmi
from combine import SETS
from common import machine, mean_std, method_text, write_section
from encoder_profile import inputs
from sets import synthetic_root

PRECISIONS = ("32", "auto")


def measure(root, labels, files, windowing, precision: str, seeds) -> dict:
    import soundfile as sf
    import torch

    import audioclust

    torch.set_num_threads(1)
    opts = {"precision": precision}
    audioclust.embed(str(root), encoder="aisfx", max_files=2, windowing=windowing, encoder_options=opts)   # warm-up
    t = time.perf_counter()
    emb = audioclust.embed(str(root), encoder="aisfx", max_files=files, windowing=windowing, labels=labels,
                           encoder_options=opts)
    wall = time.perf_counter() - t
    out = {"rows": len(emb), "wall": wall, "audio": sum(sf.info(p).duration for p in sorted(set(emb.path))),
           "vectors": emb.vectors}
    if labels:
        y = out["y"] = np.unique(emb.label, return_inverse=True)[1]
        out["nmi"] = [nmi(y, audioclust.cluster(emb.vectors, k=int(y.max()) + 1, seed=s).labels_) for s in seeds]
    return out


def noise_floor(a: dict, b: dict, y: np.ndarray, seeds, draws: int) -> list[list[float]]:
    """NMI over the seeds of the float32 rows moved by noise of the bf16 rows' distance (one list per draw)."""
    import audioclust

    x, z = a["vectors"], b["vectors"]
    size = np.linalg.norm(x - z, axis=1, keepdims=True)
    rng, out = np.random.default_rng(0), []
    for _ in range(draws):
        noise = rng.standard_normal(x.shape).astype(np.float32)
        moved = x + noise * size / np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
        out.append([nmi(y, audioclust.cluster(moved, k=int(y.max()) + 1, seed=s).labels_) for s in seeds])
    return out


def table(results: dict, args, resolved: str) -> str:
    lines = [f"## {args.section}", "",
             f"`python bench/precision.py --data {' '.join(args.data)} --seeds {' '.join(map(str, args.seeds))} "
             f"--long-seconds {args.long_seconds:g} --draws {args.draws}`; {machine()}; precision=auto resolved here to {resolved}. "
             + method_text(__doc__), "",
             "| set | rows | embedding s: 32 / auto | speed-up | audio s per s: 32 / auto | NMI: 32 / auto | change | "
             "noise floor: change per draw | cosine min / mean |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, b = r["32"], r["auto"]
        q = (f"{mean_std(a['nmi'])} / {mean_std(b['nmi'])} | "
             f"{np.mean(b['nmi']) - np.mean(a['nmi']):+.3f} | "
             + ", ".join(f"{np.mean(d) - np.mean(a['nmi']):+.3f}" for d in r["floor"])) if "nmi" in a else "(no labels) | - | -"
        x, z = a["vectors"], b["vectors"]
        cos = (x * z).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(z, axis=1), 1e-12)
        lines.append(f"| {name} | {a['rows']} | {a['wall']:.1f} / {b['wall']:.1f} | {a['wall'] / b['wall']:.2f}x | "
                     f"{a['audio'] / a['wall']:.1f} / {b['audio'] / b['wall']:.1f} | {q} | {cos.min():.5f} / {cos.mean():.5f} |")
    def change(r, arm):
        return np.mean(arm) - np.mean(r["32"]["nmi"])

    worse = [f"{n} {change(r, r['auto']['nmi']):+.3f}" for n, r in results.items()
             if "nmi" in r["32"] and change(r, r["auto"]["nmi"]) < min(-0.01, *(change(r, d) for d in r["floor"]))]
    lines += ["", "Decided: " + (f"float32 stays the default (NMI down by more than 0.01 and past the noise floor: "
                                 f"{', '.join(worse)})." if worse else
                                 "precision=auto is the default: no set's NMI falls more than 0.01 below float32's and "
                                 "below every noise draw's.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    from audioclust.embed.encoders.aisfx import native_bf16

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(20)))   # 5 cannot tell rounding from noise
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--draws", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--section", default="Reduced precision")
    args = ap.parse_args()
    import torch

    resolved = "bf16 (the CPU computes bf16 natively)" if native_bf16(torch.device("cpu")) else "float32 (no native bf16)"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(inputs(Path(tmp), 100, args.long_seconds)["long"][0][0]).parent
        for name in [*args.data, "long"]:
            root, labels, files, windowing = (long, None, None, None) if name == "long" else SETS[name]
            root = root or synthetic_root()
            r = results[name] = {p: measure(root, labels, files, windowing, p, args.seeds) for p in PRECISIONS}
            if labels:
                r["floor"] = noise_floor(r["32"], r["auto"], r["32"]["y"], args.seeds, args.draws)
            print(name, {p: {k: v for k, v in r[p].items() if k not in ("vectors", "y")} for p in PRECISIONS}, r.get("floor"), flush=True)
    write_section(args.section, table(results, args, resolved), args.out)


if __name__ == "__main__":
    sys.exit(main())
