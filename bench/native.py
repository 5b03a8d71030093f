"""Native windows (data.native_seconds): each encoder's windows read at its own input length against the run's 1 s
windows, side by side in one run: embedding speed and 5-seed NMI.

    python bench/native.py                                # birdnet (3 s) and aisfx (2.32 s: one block) on drums, sfx
    python bench/native.py --data drums --encoders birdnet --seeds 0 1

Per set and encoder, through the public API as a user embeds (audioclust.embed, the folder defaults; sfx: each file
one row, pool_windows_up_to=180), no store (everything embedded), 1 thread, one warm-up run on 2 files first (not
counted): the default (1 s windows) and windowing native_seconds=<the encoder's input>, then audioclust.cluster
with the defaults (preprocess l2, UMAP, k-means, k = the classes) over the seeds. Files up to 1 s (FSDD, the
synthetic set) are read alike either way. A long recording (--long-seconds of drum hits and silence, written to a
temp folder, as bench/encoder_profile.py makes it) measures the speed of rows that keep their 1 s place. Labels only
score.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from assign import nmi
from common import machine, mean_std, method_text, write_section
from encoder_profile import inputs
from sets import DRUMS, SFX

NATIVE = {"birdnet": 3.0, "aisfx": 100 * 1024 / 44100}   # BirdNET's input; aisfx: one spectrogram block
SETS = {"drums": (DRUMS, {}), "sfx": (SFX, {"pool_windows_up_to": 180})}


def windows(files, windowing: dict) -> int:
    """How many windows the encoder embeds for these files: the index's rule, with the windowing a run reads them
    with (conf/data/folder.yaml as shipped, `windowing` over it, its auto values resolved from the durations)."""
    from importlib import resources

    import soundfile as sf
    from omegaconf import OmegaConf

    import audioclust
    from audioclust.data.windowing import FIELDS

    folder = OmegaConf.to_container(OmegaConf.create((resources.files("audioclust.conf") / "data" / "folder.yaml").read_text()))
    durations = [sf.info(f).duration for f in files]
    w = audioclust.Windowing(**{**{k: folder[k] for k in FIELDS if k in folder}, **windowing}).resolved(durations).windowing
    return sum(len(w.offsets(d)) for d in durations)


def measure(encoder: str, root, windowing: dict, seeds, labelled: bool = True) -> dict:
    import torch

    import audioclust

    torch.set_num_threads(1)
    files = sorted(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3"))
    audioclust.embed(files[:2], encoder=encoder, windowing=windowing or None)   # warm-up
    t = time.perf_counter()
    emb = audioclust.embed(str(root), encoder=encoder, windowing=windowing or None,
                           labels={"source": "parent"} if labelled else None)
    wall = time.perf_counter() - t
    import soundfile as sf

    out = {"rows": len(emb), "windows": windows(files, windowing), "wall": wall,
           "audio": sum(sf.info(f).duration for f in files)}
    if labelled:
        y = np.unique(emb.label, return_inverse=True)[1]
        out["nmi"] = [nmi(y, audioclust.cluster(emb.vectors, k=int(y.max()) + 1, seed=s).labels_) for s in seeds]
    return out


def table(results: dict, args) -> str:
    lines = [f"## {args.section}", "",
             f"`python bench/native.py --data {' '.join(args.data)} --encoders {' '.join(args.encoders)} --seeds "
             f"{' '.join(map(str, args.seeds))} --long-seconds {args.long_seconds:g}`; {machine()}. "
             + method_text(__doc__), "",
             "| set | encoder | native (s) | windows: 1 s / native | embedding s: 1 s / native | speed-up | audio s per s: 1 s / native | "
             "NMI: 1 s / native | change |", "|---|---|---|---|---|---|---|---|---|"]
    for (name, enc), r in results.items():
        a, b = r["default"], r["native"]
        q = (f"{mean_std(a['nmi'])} / {mean_std(b['nmi'])} | "
             f"{np.mean(b['nmi']) - np.mean(a['nmi']):+.3f}") if "nmi" in a else "(no labels) | -"
        lines.append(f"| {name} | {enc} | {NATIVE[enc]:.2f} | {a['windows']} / {b['windows']} | {a['wall']:.1f} / {b['wall']:.1f} | "
                     f"{a['wall'] / b['wall']:.2f}x | {a['audio'] / a['wall']:.1f} / {b['audio'] / b['wall']:.1f} | {q} |")
    worse = [f"{name} {enc} {np.mean(r['native']['nmi']) - np.mean(r['default']['nmi']):+.3f}" for (name, enc), r in results.items()
             if "nmi" in r["default"] and np.mean(r["native"]["nmi"]) < np.mean(r["default"]["nmi"]) - 0.01]
    lines += ["", "Decided: " + (f"the 1 s windows stay the default, data.native_seconds an option (NMI down by more than 0.01: "
                                 f"{', '.join(worse)})." if worse else "native windows lose no set more than 0.01 NMI.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--encoders", nargs="+", default=list(NATIVE), choices=list(NATIVE))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--long-seconds", type=float, default=120.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--section", default="Native windows")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(inputs(Path(tmp), 100, args.long_seconds)["long"][0][0]).parent
        for name in [*args.data, "long"]:
            root, base = (long, {}) if name == "long" else SETS[name]
            for enc in args.encoders:
                r = {}
                for how, extra in (("default", {}), ("native", {"native_seconds": NATIVE[enc]})):
                    r[how] = measure(enc, root, {**base, **extra}, args.seeds, labelled=name != "long")
                    print(name, enc, how, {k: v for k, v in r[how].items()}, flush=True)
                results[(name, enc)] = r
    write_section(args.section, table(results, args), args.out)


if __name__ == "__main__":
    sys.exit(main())
