"""Clustering quality, side by side: classic label-free baselines and audioclust configurations.

    python bench/quality.py                          # FSDD (when ../shared has it) and the synthetic set
    python bench/quality.py --data fsdd --seeds 0 1 2 --configs fsdd fsdd_umap idec seed
    python bench/quality.py --data synthetic --max-files 200 --configs demo --no-baselines --out /tmp/b.md

Every method is scored against labels taken from file names (used for scoring only): on FSDD the digit
(k=10) and the speaker (k=6), on the synthetic set the class folder (k=20). Baselines: k-means seeds.
audioclust: one `train.py` run (seed 0), then `cluster.py -m seed=...` as a user would run it. A model already
trained under --runs is reused (its row says so; wall time then excludes training); --retrain trains anew.
Results (mean ± std over seeds, wall time) go into BENCHMARKS.md, section 'Quality on <data>'.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import baselines  # noqa: E402
from frontend import write_section  # noqa: E402

from audioclust.data.audio import list_audio_files  # noqa: E402

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
DRUMS = Path(os.environ.get("DRUMS_DIR", Path.home() / ".cache" / "audioclust-data" / "drums"))
SPEAKER = r"'^\d_([a-z]+)_'"
DATASETS = {
    "fsdd": {"sr": 8000, "train": ["data=fsdd", f"data.root={FSDD}"],
             "targets": {"digit": (r"^(\d)_", 10, [r"data.labels.pattern='^(\d)_'", "kmeans.k=10"]),
                         "speaker": (r"^\d_([a-z]+)_", 6, [f"data.labels.pattern={SPEAKER}", "kmeans.k=6"])}},
    "synthetic": {"sr": 16000, "train": ["experiment=demo"], "targets": {"class": (None, 20, [])}},
    # 583 drum one-shots in 10 classes, 14 kits (../shared/data/drums/build.sh makes it; not speech)
    "drums": {"sr": 16000, "train": ["data=folder", f"data.root={DRUMS}", "data.labels.source=parent",
                                     "data.n_clusters=10"], "targets": {"class": (None, 10, ["kmeans.k=10"])}},
}
COCLUSTER = ["reduce.method=umap", "voice=speech"]
# name -> (train.py overrides, cluster.py overrides [or {target: overrides}, which win over the target's own]);
# runs sharing train overrides share one training
CONFIGS = {
    # the origin's shapes (288-band spectrogram, 6 blocks of 144x144x3 per clip): over 7 min per epoch on the
    # whole FSDD with 2 CPU cores, so not in the default list (BASELINES.md has its scores)
    "seed": (["experiment=seed", "trainer.max_epochs=3"], []),
    "fsdd": (["experiment=fsdd"], []),
    "fsdd_umap": (["experiment=fsdd"], ["reduce.method=umap"]),
    # experiment=fsdd before frontend.lifter=12 (the 24 log-mel bands as they are)
    "fsdd_nolifter_umap": (["experiment=fsdd", "frontend.lifter=0"], ["reduce.method=umap"]),
    "idec": (["experiment=fsdd", "model=idec"], []),
    "contrastive": (["experiment=fsdd_contrastive"], []),
    "contrastive_umap": (["experiment=fsdd_contrastive"], ["reduce.method=umap"]),
    # voice groups (audioclust/voice.py): embeddings standardised within 8 groups of clips with a similar
    # long-term spectrum (estimated speakers / channels) before UMAP
    "fsdd_umap_voice": (["experiment=fsdd"], ["reduce.method=umap", "voice.groups=8"]),
    # co-clustering (audioclust/cluster/pipeline.py): 2 rounds of digit clusters -> long-term spectra centred
    # within them -> 6 voice groups -> embeddings standardised per group; speakers are the voice groups
    "fsdd_cocluster": (["experiment=fsdd"], {"digit": COCLUSTER,
                                             "speaker": ["reduce.method=umap", "voice=speakers", "kmeans.k=10"]}),
    "speaker": (["experiment=fsdd_speaker"], []),
    "speaker_umap": (["experiment=fsdd_speaker"], ["reduce.method=umap"]),
    # the block codes' pooling (model.pooling): concat (the default before timestats) ties a sound to where it sits
    # in the clip; timestats (the default): each frequency row's code mean and spread over the clip's own time
    "fsdd_timestats_umap": (["experiment=fsdd", "model.pooling=timestats"], ["reduce.method=umap"]),
    "folder": ([], []),
    "folder_umap": ([], ["reduce.method=umap"]),
    "folder_concat": (["model.pooling=concat"], []),
    "folder_concat_umap": (["model.pooling=concat"], ["reduce.method=umap"]),
    "folder_timestats": (["model.pooling=timestats"], []),
    "folder_timestats_umap": (["model.pooling=timestats"], ["reduce.method=umap"]),
    "demo_timestats": (["model.pooling=timestats"], []),
    "demo_timestats_umap": (["model.pooling=timestats"], ["reduce.method=umap"]),
    "demo": ([], []),
    "demo_umap": ([], ["reduce.method=umap"]),
    "demo_umap_voice": ([], ["reduce.method=umap", "voice.groups=8"]),
    "demo_cocluster": ([], COCLUSTER),
    "demo_lifter": (["frontend.lifter=12"], []),
    "demo_lifter_umap": (["frontend.lifter=12"], ["reduce.method=umap"]),
}


def labels_of(paths, pattern: str | None):
    import re

    if pattern is None:
        return [Path(p).parent.name for p in paths]
    return [re.search(pattern, Path(p).name).group(1) for p in paths]


def summarise(name: str, per_target: dict, seconds: float) -> dict:
    row = {"method": name, "seconds": seconds}
    for target, scores in per_target.items():
        for key in ("acc", "nmi", "ari"):
            vals = np.array([s[key] for s in scores], dtype=float)
            row[f"{target}/{key}"] = (float(vals.mean()), float(vals.std()))
    return row


def run_baselines(data: str, paths, seeds) -> list[dict]:
    spec, rows, cache = DATASETS[data], [], {}
    for name, method in baselines.METHODS.items():
        t = time.perf_counter()
        per_target = {}
        for target, (pattern, k, _) in spec["targets"].items():
            labels = labels_of(paths, pattern)
            if method is None:
                per_target[target] = baselines.chance_scores(labels, k, seeds)
                continue
            feature, trim, reduce = method
            if (feature, trim) not in cache:
                clips = baselines.decode(paths, spec["sr"], trim)
                cache[(feature, trim)] = feature(clips, spec["sr"])
            per_target[target] = baselines.cluster_scores(cache[(feature, trim)], labels, k, seeds, reduce)
        rows.append(summarise(name, per_target, time.perf_counter() - t))
        print(_line(rows[-1]), flush=True)
    return rows


_RETRAINED: set = set()  # runs trained by this invocation: configs sharing a training retrain it once


def script(*args: str) -> float:
    """Run train.py / cluster.py like a user; returns wall seconds; raises with the tail of stderr."""
    t = time.perf_counter()
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="1")
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return time.perf_counter() - t


def run_audioclust(data: str, name: str, seeds, out: Path, extra: list[str], retrain: bool = False) -> dict:
    train_ov, cluster_ov = CONFIGS[name]
    spec = DATASETS[data]
    run = out / data / "-".join(train_ov + ["base"]).replace("=", "_").replace("/", "_")
    if retrain and run.exists() and run not in _RETRAINED:
        shutil.rmtree(run)
    reused = (run / "model.pt").is_file() and run not in _RETRAINED  # not: trained for a row above
    seconds = 0.0
    if not reused:
        _RETRAINED.add(run)
        seconds += script("train.py", *spec["train"], *train_ov, *extra, "logger=none", f"hydra.run.dir={run}")
    per_target = {}
    for target, (_, _, target_ov) in spec["targets"].items():
        sweep = out / data / f"{name}-{target}"
        own = cluster_ov.get(target, []) if isinstance(cluster_ov, dict) else cluster_ov
        seconds += script("cluster.py", "-m", f"run_dir={run}", "seed=" + ",".join(map(str, seeds)),
                          "wandb.enabled=false", "report.plots=false", *target_ov, *own,
                          *[e for e in extra if e.startswith("data.max_files")], f"hydra.sweep.dir={sweep}")
        metrics = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(len(seeds))]
        per_target[target] = metrics
        if "dec" in metrics[0]:
            per_target[f"{target} (network's own clusters)"] = [m["dec"] for m in metrics]
    note = " (model reused: wall s excludes training)" if reused else ""
    per = cluster_ov.items() if isinstance(cluster_ov, dict) else []
    shown = train_ov + ([f"{t}: {' '.join(o)};" for t, o in per] if per else cluster_ov)
    return summarise(f"audioclust `{name}`: {' '.join(shown) or 'defaults'}{note}", per_target, seconds)


def _cell(row: dict, key: str) -> str:
    return f"{row[key][0]:.3f} ± {row[key][1]:.3f}" if key in row else "-"


def _line(row: dict) -> str:
    return f"{row['method']}: " + ", ".join(f"{k} {v[0]:.3f}" for k, v in row.items() if isinstance(v, tuple))


def table(data: str, rows: list[dict], seeds, n: int) -> str:
    targets = sorted({k.rsplit("/", 1)[0] for r in rows for k in r if "/" in k},
                     key=lambda t: (t.split(" ")[0] != list(DATASETS[data]["targets"])[0], t))
    head = ["method"] + [f"{t} {m.upper()}" for t in targets for m in ("acc", "nmi", "ari")] + ["wall s"]
    lines = [f"## Quality on {data}", "",
             f"{n} clips; mean ± std over seeds {list(seeds)}; {platform.machine()}, {os.cpu_count()} cores, "
             f"{os.environ.get('OMP_NUM_THREADS', 'default')} thread(s) per process; "
             "labels only score. audioclust wall time = train + embedding + clustering for every target and seed.",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_cell(r, f"{t}/{m}") for t in targets for m in ("acc", "nmi", "ari")]
        lines.append("| " + " | ".join([r["method"], *cells, f"{r['seconds']:.0f}"]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["fsdd", "synthetic"], choices=list(DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--configs", nargs="+", default=None, help=f"of {list(CONFIGS)}")
    ap.add_argument("--max-files", type=int, default=None, help="an evenly spread subset (quick checks)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--title", default=None, help="BENCHMARKS.md section title (default 'Quality on <data>')")
    ap.add_argument("--out", default=None, help="write the table here instead of BENCHMARKS.md")
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "quality"))
    ap.add_argument("--retrain", action="store_true",
                    help="train every model anew (default: reuse a model already trained under --runs)")
    ap.add_argument("--threads", type=int, default=1, help="torch/FAISS threads per process (1: fastest on a busy CPU)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by train.py / cluster.py
    import torch

    torch.set_num_threads(args.threads)
    for data in args.data:
        if data == "fsdd" and not FSDD.is_dir():
            print(f"skipping fsdd: not found at {FSDD}")
            continue
        if data == "drums" and not DRUMS.is_dir():
            print(f"skipping drums: not found at {DRUMS} (bash ../shared/data/drums/build.sh makes it)")
            continue
        run_one(data, args)


def run_one(data: str, args) -> None:
    root = {"fsdd": FSDD, "drums": DRUMS}.get(data) or _synthetic_root()
    paths = spread(list_audio_files(root), args.max_files)
    extra = [f"data.max_files={args.max_files}"] if args.max_files else []
    rows = [] if args.no_baselines else run_baselines(data, paths, args.seeds)
    default = (["fsdd", "fsdd_umap", "fsdd_cocluster", "fsdd_nolifter_umap", "idec", "contrastive",
                "contrastive_umap", "speaker", "speaker_umap"] if data == "fsdd" else
               ["folder", "folder_umap", "folder_timestats", "folder_timestats_umap"] if data == "drums" else
               ["demo", "demo_umap", "demo_cocluster", "demo_lifter", "demo_lifter_umap"])
    for name in args.configs or default:
        rows.append(run_audioclust(data, name, args.seeds, Path(args.runs), extra, args.retrain))
        print(_line(rows[-1]), flush=True)
    text = table(data, rows, args.seeds, len(paths))
    print(text)
    if args.out:
        from audioclust.io import write_text

        write_text(args.out, text)
    else:
        title = f"{args.title} ({data})" if args.title else f"Quality on {data}"
        write_section(title, text.replace(f"## Quality on {data}", f"## {title}", 1))


def spread(paths, n: int | None):
    """The evenly spread subset that data.max_files selects (same rule as audioclust.data.index)."""
    if not n or n >= len(paths):
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, n).round().astype(int)]


def _synthetic_root() -> Path:
    from audioclust.data.synthetic import generate

    return Path(generate(ROOT / ".cache" / "synthetic", sr=16000, duration=1.0, n_per_class=30, seed=0))


if __name__ == "__main__":
    main()
