"""An encoder's route now against its route before, side by side in one run on every labelled set: embedding speed,
how close the rows are, and 5-seed NMI. BirdNET (the default): its two spectrograms computed with numpy beside the
graph cut after them (now, birdnet.split_frontend) against the whole graph in litert (before); --encoder speech: each
clip's whole mel sequence through the speech model's graph in one call (now, speech.sequence_model) against every
76-frame window on its own (before; bench/encoder_profile.py's routes).

    python bench/birdnet_frontend.py                      # every set of bench/combine.py, and a 120 s recording
    python bench/birdnet_frontend.py --data drums --seeds 0 1
    python bench/birdnet_frontend.py --encoder speech --data drums fsdd synthetic

Per set (bench/combine.py's folders, labels, files and windowing), through the public API as a user embeds
(audioclust.embed, the folder defaults, no store: everything embedded) at --threads per process (default 2, both
cores: what a run takes by default; BirdNET runs as that many interpreters of 1 thread, the speech model's onnxruntime
with that many threads), each route after a
warm-up on 2 files (model load, runtime planning: not counted) and with the set's files read once before (the page
cache warm for both). The two routes' rows compared by cosine; each route's rows clustered by audioclust.cluster
with the defaults (preprocess l2, UMAP, k-means, k = the classes) over the seeds. A long recording (--long-seconds of
drum hits and silence, written to a temp folder, as bench/encoder_profile.py makes it): speed only. Labels only score.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from assign import nmi
from combine import SETS
from common import machine, mean_std, method_text, write_section
from encoder_profile import before, inputs
from sets import synthetic_root

ROUTES = {"birdnet": (("before", "birdnet-graph"), ("now", "birdnet")),   # (name, encoder_profile route) per encoder
          "speech": (("before", "speech-windows"), ("now", "speech"))}
SECTIONS = {"birdnet": "BirdNET's front end", "speech": "Speech model: whole mel sequences"}


def measure(name: str, root, labels, files, windowing, seeds, encoder: str = "birdnet") -> dict:
    """Each route's embedding wall time, rows, audio seconds and NMI over the seeds, and the rows' cosines."""
    import soundfile as sf

    import audioclust

    for p in Path(root).rglob("*"):   # the page cache warm for both routes
        if p.is_file():
            p.read_bytes()
    two = sorted(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg"))[:2]
    out, rows = {}, {}
    for how, route in ROUTES[encoder]:
        with before(route):
            audioclust.embed(two, encoder=encoder)   # warm-up
            t = time.perf_counter()
            emb = audioclust.embed(str(root), encoder=encoder, labels=labels, max_files=files, windowing=windowing)
            wall = time.perf_counter() - t
        rows[how] = emb.vectors
        out.setdefault("audio", sum(sf.info(p).duration for p in sorted(set(emb.path))))
        r = out[how] = {"rows": len(emb), "wall": wall}
        if labels:
            y = np.unique(emb.label, return_inverse=True)[1]
            r["nmi"] = [nmi(y, audioclust.cluster(emb.vectors, k=int(y.max()) + 1, seed=s).labels_) for s in seeds]
        print(name, how, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
    a, b = rows["before"], rows["now"]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    out["cos_min"], out["max_abs"] = float(cos.min()), float(np.abs(a - b).max())
    return out


def table(results: dict, args) -> str:
    lines = [f"## {args.section}", "",
             f"`python bench/birdnet_frontend.py{' --encoder ' + args.encoder if args.encoder != 'birdnet' else ''} --data {' '.join(args.data)} --seeds {' '.join(map(str, args.seeds))} "
             f"--threads {args.threads} --long-seconds {args.long_seconds:g}`; {machine()}. " + method_text(__doc__), "",
             "| set | rows | audio (s) | embedding s: before / now | speed-up | audio s per s: before / now | rows: least cosine, "
             "largest difference | NMI: before / now | change |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, b = r["before"], r["now"]
        q = (f"{mean_std(a['nmi'])} / {mean_std(b['nmi'])} | {np.mean(b['nmi']) - np.mean(a['nmi']):+.3f}"
             if "nmi" in a else "(no labels) | -")
        lines.append(f"| {name} | {b['rows']} | {r['audio']:.1f} | {a['wall']:.1f} / {b['wall']:.1f} | {a['wall'] / b['wall']:.2f}x | "
                     f"{r['audio'] / a['wall']:.1f} / {r['audio'] / b['wall']:.1f} | {r['cos_min']:.7f}, {r['max_abs']:.1e} | {q} |")
    changes = {n: np.mean(r["now"]["nmi"]) - np.mean(r["before"]["nmi"]) for n, r in results.items() if "nmi" in r["now"]}
    worst = min(changes, key=changes.get)
    same = all(r["max_abs"] == 0 for r in results.values())
    rows = ("every row the same bytes as before; NMI changes " if same else
            f"every row within a cosine of {min(r['cos_min'] for r in results.values()):.7f} of before; NMI changes ")
    lines += ["", f"Reading: {rows}{min(changes.values()):+.3f} ({worst}) to {max(changes.values()):+.3f}"
              f"{'' if same else ', what UMAP and k-means make of float rounding'}; speed-up {min(r['before']['wall'] / r['now']['wall'] for r in results.values()):.2f}x to "
              f"{max(r['before']['wall'] / r['now']['wall'] for r in results.values()):.2f}x."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--encoder", choices=list(ROUTES), default="birdnet")
    ap.add_argument("--section", default=None, help="default: SECTIONS[--encoder]")
    args = ap.parse_args()
    args.section = args.section or SECTIONS[args.encoder]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(inputs(Path(tmp), 100, args.long_seconds)["long"][0][0]).parent
        for name in [*args.data, "long"]:
            root, labels, files, windowing = (long, None, None, None) if name == "long" else SETS[name]
            results[name] = measure(name, root or synthetic_root(), labels, files, windowing, args.seeds, args.encoder)
    write_section(args.section, table(results, args), args.out)


if __name__ == "__main__":
    sys.exit(main())
