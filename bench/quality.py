"""Clustering quality, side by side: classic label-free baselines and audioclust configurations.

    python bench/quality.py                          # FSDD (when ../shared has it) and the synthetic set
    python bench/quality.py --data fsdd --seeds 0 1 2 --configs fsdd fsdd_umap idec seed
    python bench/quality.py --data synthetic --max-files 200 --configs demo --no-baselines --out /tmp/b.md
    python bench/quality.py --whole                  # data=folder: 1 s crops vs whole clips, one table
    python bench/quality.py --whole --data sfx --configs folder_1s folder_1s_umap folder folder_umap folder_rows \
        folder_rows_umap --title 'Whole clips by default: sfx'   # bash bench/sfx_data.sh makes the set

Every method is scored against labels taken from file names (used for scoring only): on FSDD the digit
(k=10) and the speaker (k=6), on the synthetic set the class folder (k=20). Baselines: k-means seeds.
audioclust: one `train.py` run (seed 0), then `cluster.py -m seed=...` as a user would run it. A model already
trained under --runs is reused (its row says so; wall time then excludes training); --retrain trains anew.
Results (mean ± std over seeds, wall time) go into BENCHMARKS.md, section 'Quality on <data>'.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
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
from common import write_section  # noqa: E402
from sets import DRUMS, FSDD, SFX, labels_of, spread, synthetic_root  # noqa: E402

from audioclust.data.audio import list_audio_files  # noqa: E402

SPEAKER = r"'^\d_([a-z]+)_'"
DATASETS = {
    "fsdd": {"sr": 8000, "train": ["data=fsdd", f"data.root={FSDD}"],
             "targets": {"digit": (r"^(\d)_", 10, [r"data.labels.pattern='^(\d)_'", "kmeans.k=10"]),
                         "speaker": (r"^\d_([a-z]+)_", 6, [f"data.labels.pattern={SPEAKER}", "kmeans.k=6"])}},
    "synthetic": {"sr": 16000, "train": ["experiment=demo"], "targets": {"class": (None, 20, [])}},
    # 583 drum one-shots in 10 classes, 14 kits (../shared/data/drums/build.sh makes it; not speech)
    "drums": {"sr": 16000, "train": ["data=folder", f"data.root={DRUMS}", "data.labels.source=parent",
                                     "data.n_clusters=10"], "targets": {"class": (None, 10, ["kmeans.k=10"])}},
    # 383 game sound effects in 10 classes, 0.1-168 s (bash bench/sfx_data.sh makes it; general sound)
    "sfx": {"sr": 16000, "train": ["data=folder", f"data.root={SFX}", "data.labels.source=parent",
                                   "data.n_clusters=10"], "targets": {"class": (None, 10, ["kmeans.k=10"])}},
    # FSDD as any folder a user has (data=folder: no FSDD preset, read at 16 kHz)
    "fsdd_folder": {"sr": 8000, "train": ["data=folder", f"data.root={FSDD}"],
                    "targets": {"digit": (r"^(\d)_", 10, ["data.labels.source=regex", r"data.labels.pattern='^(\d)_'",
                                                           "kmeans.k=10"]),
                                "speaker": (r"^\d_([a-z]+)_", 6, ["data.labels.source=regex",
                                                                   f"data.labels.pattern={SPEAKER}", "kmeans.k=6"])}},
    # generated: 10 synthetic classes x 30 clips of 0.3-5 s each (_mixed_root); the sound may lie past 1 s
    "mixed": {"sr": 16000, "train": ["data=folder", "data.labels.source=parent", "data.n_clusters=10"],
              "targets": {"class": (None, 10, ["kmeans.k=10"])}},
}
# --whole: data=folder's defaults before (every file cropped to its first 1 s) and now (1 s windows to each file's
# end, pooled into one row per file up to 30 s), and clip_seconds=auto, on each data set, with and without UMAP
WHOLE_DATA = ["drums", "fsdd_folder", "mixed"]
WHOLE_CONFIGS = ["folder_1s", "folder_1s_umap", "folder", "folder_umap", "folder_equal", "folder_equal_umap",
                 "folder_auto", "folder_auto_umap"]
WHOLE_MAX_FILES = {"fsdd_folder": 1500}   # an evenly spread half of FSDD: four trainings fit a 2-core afternoon
COCLUSTER = ["reduce.method=umap", "voice=speech"]
AUTO = ["data.clip_seconds=auto", "data.hop_seconds=auto", "data.pool_windows_up_to=null"]
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
    "folder_1s": (["data.clip_seconds=1.0", "data.hop_seconds=null"], []),   # data=folder before whole clips
    "folder_1s_umap": (["data.clip_seconds=1.0", "data.hop_seconds=null"], ["reduce.method=umap"]),
    # whole clips the other way: one window per file of the folder's 90th-percentile duration, longer files in
    # windows of that length, one row per window
    # files up to 10 s one row each (the default before 30 s): a 12 s cymbal was 12 rows
    "folder_pool10": ([], ["data.pool_windows_up_to=10"]),
    "folder_pool10_umap": ([], ["data.pool_windows_up_to=10", "reduce.method=umap"]),
    # every file one row however long (sfx's ambience loops run to 168 s: at 30 s they were 1,900 of 2,275 rows)
    "folder_pool180": ([], ["data.pool_windows_up_to=180"]),
    "folder_pool180_umap": ([], ["data.pool_windows_up_to=180", "reduce.method=umap"]),
    # clips with long recordings among them: clusters fitted on every row (before cluster.fit_on: a 168 s recording
    # weighed as 168 clips), not on one row per file
    "folder_rows": ([], ["cluster.fit_on=rows"]),
    "folder_rows_umap": ([], ["cluster.fit_on=rows", "reduce.method=umap"]),
    "folder_equal": ([], ["data.pool_weights=equal"]),   # whole files, every window of a file counted alike
    "folder_equal_umap": ([], ["data.pool_weights=equal", "reduce.method=umap"]),
    "folder_auto": (AUTO, []),
    "folder_auto_umap": (AUTO, ["reduce.method=umap"]),
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
    where = [f"data.root={_mixed_root()}"] if data == "mixed" else []
    if not reused and run not in _RETRAINED:   # (train.py again would rewrite its run_config.yaml)
        _RETRAINED.add(run)
        seconds += script("train.py", *spec["train"], *where, *train_ov, *extra, "logger=none", f"hydra.run.dir={run}")
    per_target = {}
    for target, (_, _, target_ov) in spec["targets"].items():
        sweep = out / data / f"{name}-{target}"
        own = cluster_ov.get(target, []) if isinstance(cluster_ov, dict) else cluster_ov
        seconds += script("cluster.py", "-m", f"run_dir={run}", "seed=" + ",".join(map(str, seeds)),
                          "wandb.enabled=false", "report.plots=false", *target_ov, *own,
                          *[e for e in extra if e.startswith("data.max_files")], f"hydra.sweep.dir={sweep}")
        metrics = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(len(seeds))]
        per_target[target] = metrics
        per_file = [file_scores(sweep / str(i) / "assignments.csv") for i in range(len(seeds))]
        if metrics[0]["n_clips"] > len(per_file[0]["files"]):   # windows: also one vote per file
            per_target[f"{target} per file"] = per_file
        if "dec" in metrics[0]:
            per_target[f"{target} (network's own clusters)"] = [m["dec"] for m in metrics]
    note = " (model reused: wall s excludes training)" if reused else ""
    per = cluster_ov.items() if isinstance(cluster_ov, dict) else []
    shown = train_ov + ([f"{t}: {' '.join(o)};" for t, o in per] if per else cluster_ov)
    row = summarise(f"audioclust `{name}`: {' '.join(shown) or 'defaults'}{note}", per_target, seconds)
    from omegaconf import OmegaConf

    data_cfg = OmegaConf.load(run / "run_config.yaml").data
    row.update(config=name, clip=float(data_cfg.clip_seconds), hop=data_cfg.hop_seconds, rows=metrics[0]["n_clips"],
               files=metrics[0]["n_files"] - metrics[0]["n_skipped"], reused=reused)
    return row


def file_scores(assignments: Path) -> dict:
    """acc / nmi / ari with one row per file: the cluster most of its windows fell in (ties: the earliest window's)."""
    import csv
    from collections import Counter

    from audioclust.cluster.metrics import label_scores

    with open(assignments, newline="") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: (r["path"], float(r["offset"])))
    votes: dict = {}
    for r in rows:
        votes.setdefault(r["path"], (r["label"], []))[1].append(int(r["cluster"]))
    files = sorted(votes)
    clusters = [Counter(votes[p][1]).most_common(1)[0][0] for p in files]
    return {**label_scores([votes[p][0] for p in files], clusters), "files": files}


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


def whole_table(results: dict, seeds, title: str = "Whole clips by default (data=folder)") -> str:
    """One table: per data set and target, the 1 s crop default against whole clips, NMI without and with UMAP."""
    lines = [f"## {title}", "",
             f"`{shlex.join(['python', 'bench/quality.py', *sys.argv[1:]])}`. Settings (train.py / cluster.py overrides, "
             "bench/quality.py `CONFIGS`): **1 s crop** `data.clip_seconds=1.0 data.hop_seconds=null`, the "
             "`data=folder` default before (each file's first second); **whole files** the defaults now: 1 s "
             "windows every second to each file's end (`hop_seconds=auto`), a file up to 30 s one row, its "
             "windows' embeddings averaged weighted by each window's signal power (`pool_windows_up_to=30 "
             "pool_weights=power`), longer recordings one row per window, clusters fitted on one row per file "
             "when most files are clips (`cluster.fit_on=auto`); the same with `pool_weights=equal`; "
             "**auto** `clip_seconds=auto hop_seconds=auto pool_windows_up_to=null`: one window of the folder's "
             "90th-percentile duration, longer files in windows of it, one row per window. *fix tried*: on a "
             "model trained above, at embedding time (bench/quality.py `VARIANTS`). One training per data set "
             "and setting (seed 0), k-means seeds "
             f"{list(seeds)}, k = number of classes; NMI mean ± std against the labels (which only score). "
             "**rows**: what is clustered; **per file**: each file's cluster is the one most of its rows fell in "
             "(= rows when every file is one row). **train s**: training wall time on a machine shared with "
             "other jobs (reused: a model trained earlier with the same settings, or a run resumed). "
             f"{platform.machine()}, {os.cpu_count()} cores, {os.environ.get('OMP_NUM_THREADS', 'default')} "
             "thread(s) per process.", "",
             "| data set (files, k) | setting | clip / hop s | rows | NMI | NMI + UMAP | per file NMI / + UMAP | "
             "train s |", "|---|---|---|---|---|---|---|---|"]
    for data, rows in results.items():
        by = {r["config"]: r for r in rows}
        for target, (_, k, _) in DATASETS[data]["targets"].items():
            for label, base in (("1 s crop (before)", "folder_1s"),
                                ("**whole files: 1 s windows to the end, a file up to 30 s one row, pooled by signal "
                                 "power; clusters fitted on one row per file, longer files' windows assigned (now)**",
                                 "folder"),
                                ("whole files, clusters fitted on every row (`cluster.fit_on=rows`, before)",
                                 "folder_rows"),
                                ("whole files, a file up to 10 s one row (`data.pool_windows_up_to=10`, before)",
                                 "folder_pool10"),
                                ("whole files, every file one row (`data.pool_windows_up_to=180`)", "folder_pool180"),
                                ("whole files, windows pooled with equal weights", "folder_equal"),
                                ("`clip_seconds=auto`: one window of the 90th-percentile duration", "folder_auto")):
                plain, umap = by.get(base), by.get(base + "_umap")
                if plain is None or umap is None:
                    continue
                hop = "-" if plain["hop"] is None else f"{float(plain['hop']):g}"
                pf = f"{target} per file/nmi"
                per_file = (f"{_nmi(plain, pf)} / {_nmi(umap, pf)}" if pf in plain else "= rows")
                trained = "reused" if plain["reused"] else f"{plain['seconds']:.0f} (+ clustering)"
                lines.append(f"| {data} {target} ({plain['files']}, {k}) | {label} | {plain['clip']:g} / {hop} | "
                             f"{plain['rows']} | {_nmi(plain, target + '/nmi')} | {_nmi(umap, target + '/nmi')} | "
                             f"{per_file} | {trained} |")
            for v in (r for r in rows if r.get("variant")):
                hop = "-" if v["hop"] is None else f"{float(v['hop']):g}"
                pf = f"{target} per file"
                per_file = ("= rows" if v["rows"] == v["files"] else
                            f"{_nmi(v, pf + '/nmi')} / {_nmi(v, pf + '_umap/nmi')}")
                lines.append(f"| {data} {target} ({v['files']}, {k}) | fix tried: {v['method']} | "
                             f"{v['clip']:g} / {hop} | {v['rows']} | {_nmi(v, target + '/nmi')} | "
                             f"{_nmi(v, target + '_umap/nmi')} | {per_file} | no retraining |")
    return "\n".join(lines) + "\n"


def _nmi(row: dict, key: str) -> str:
    return f"{row[key][0]:.3f} ± {row[key][1]:.3f}" if key in row else "-"


# fixes tried on the models trained above, at embedding time (no retraining): name -> (the run's config, how the
# variant cuts and pools files: audioclust.embed's windowing over the run's own; a file up to the run's
# pool_windows_up_to, else 10 s, one row)
VARIANTS = {
    "the 1 s crop model, 1 s windows to each file's end, weighted by signal power":
        ("folder_1s", {"hop_seconds": 1.0, "pool_weights": "power"}),
}


def run_variant(data: str, name: str, runs: Path, seeds) -> dict | None:
    """One VARIANTS row: embedded in this process as cluster.py embeds (audioclust.embed, on a copy of the run whose
    data config cuts files the variant's way: a run keeps its own windowing), then cluster.py's clustering
    (audioclust.cluster) per seed, with and without UMAP; scores per row and per file (majority of its windows, or
    its one mean embedding)."""
    from collections import Counter

    import audioclust
    from audioclust.cluster.metrics import label_scores

    config, windowing = VARIANTS[name]
    train_ov = CONFIGS[config][0]
    run = runs / data / "-".join(train_ov + ["base"]).replace("=", "_").replace("/", "_")
    if not (run / "model.pt").is_file():
        return None
    variant, clip, hop = _variant_run(run, windowing, hashlib.sha256(name.encode()).hexdigest()[:10])
    t = time.perf_counter()
    emb = audioclust.embed(run_dir=variant, device="cpu")
    seconds = time.perf_counter() - t
    x, paths = emb.vectors, list(emb.path)
    files = sorted(set(paths))
    out = {"method": name, "config": name, "clip": clip, "hop": hop, "rows": len(x),
           "files": len(files), "reused": True, "seconds": seconds, "variant": True}
    for target, (pattern, k, _) in DATASETS[data]["targets"].items():
        labels = labels_of(paths, pattern)
        for suffix, reduce in (("", "none"), ("_umap", "umap")):
            rows, per_file = [], []
            for seed in seeds:
                clusters = audioclust.cluster(x, k=k, reduce=reduce, seed=seed, gpu=False).labels_
                rows.append(label_scores(labels, clusters))
                vote = {}
                for f, c, lab in zip(paths, clusters.tolist(), labels):
                    vote.setdefault(f, (lab, []))[1].append(c)
                per_file.append(label_scores([vote[f][0] for f in files],
                                              [Counter(vote[f][1]).most_common(1)[0][0] for f in files]))
            for key, scores in ((f"{target}{suffix}", rows), (f"{target} per file{suffix}", per_file)):
                for m in ("acc", "nmi", "ari"):
                    vals = [sc[m] for sc in scores]
                    out[f"{key}/{m}"] = (float(np.mean(vals)), float(np.std(vals)))
    return out


def _variant_run(run: Path, windowing: dict, slug: str) -> tuple[Path, float, float | None]:
    """A copy of the train run (its model.pt linked) whose run_config.yaml cuts files as `windowing` says, a file up
    to the run's pool_windows_up_to (else 10 s) one row; with the variant's clip and hop seconds."""
    from omegaconf import OmegaConf

    out = run.parent / f"{run.name}-variant-{slug}"
    out.mkdir(exist_ok=True)
    cfg = OmegaConf.load(run / "run_config.yaml")
    cfg.data.pool_windows_up_to = cfg.data.get("pool_windows_up_to") or 10.0
    cfg.data.update(windowing)
    OmegaConf.save(cfg, out / "run_config.yaml")
    if not (out / "model.pt").exists():
        (out / "model.pt").symlink_to((run / "model.pt").resolve())
    return out, float(cfg.data.clip_seconds), cfg.data.hop_seconds


def run_whole(args) -> None:
    results = {}
    for data in args.data:
        folder = {"fsdd_folder": FSDD, "drums": DRUMS, "sfx": SFX}.get(data)   # "mixed" is generated
        if folder is not None and not folder.is_dir():
            print(f"skipping {data}: not found" + (" (bash bench/sfx_data.sh makes it)" if data == "sfx" else ""))
            continue
        max_files = args.max_files or WHOLE_MAX_FILES.get(data)
        extra = [f"data.max_files={max_files}"] if max_files else []
        results[data] = []
        for name in args.configs or WHOLE_CONFIGS:
            # each row's scores kept next to its runs: data sets run in parallel processes, one more call tabulates
            saved = Path(args.runs) / data / f"{name}-whole-n{max_files}-s{'_'.join(map(str, args.seeds))}.json"
            if saved.is_file() and not args.retrain:
                row = json.loads(saved.read_text())
                row.update({k: tuple(v) for k, v in row.items() if isinstance(v, list)})
            else:
                row = run_audioclust(data, name, args.seeds, Path(args.runs), extra, args.retrain)
                saved.write_text(json.dumps(row))
            results[data].append(row)
            print(_line(row), flush=True)
        for name in VARIANTS if args.variants else []:
            slug = hashlib.sha256(name.encode()).hexdigest()[:10]
            saved = Path(args.runs) / data / f"variant-{slug}-whole-s{'_'.join(map(str, args.seeds))}.json"
            if saved.is_file() and not args.retrain:
                row = json.loads(saved.read_text())
                row.update({k: tuple(v) for k, v in row.items() if isinstance(v, list)})
            else:
                row = run_variant(data, name, Path(args.runs), args.seeds)
                if row is None:
                    print(f"skipping {name!r} on {data}: its model is not trained yet")
                    continue
                saved.write_text(json.dumps(row))
            results[data].append(row)
            print(_line(row), flush=True)
    title = args.title or "Whole clips by default (data=folder)"
    text = whole_table(results, args.seeds, title)
    print(text)
    write_section(title, text, args.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=None, choices=list(DATASETS),
                    help="default: fsdd synthetic (--whole: drums fsdd_folder mixed)")
    ap.add_argument("--whole", action="store_true", help="data=folder: 1 s crops vs whole clips, one table")
    ap.add_argument("--variants", action="store_true", help="--whole: also the fixes tried (VARIANTS)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--configs", nargs="+", default=None, help=f"of {list(CONFIGS)}")
    ap.add_argument("--max-files", type=int, default=None, help="an evenly spread subset (quick checks)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--title", default=None, help="BENCHMARKS.md section title (default 'Quality on <data>'; "
                    "--whole: 'Whole clips by default (data=folder)')")
    ap.add_argument("--out", default=None, help="write the table here instead of BENCHMARKS.md")
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "quality"))
    ap.add_argument("--retrain", action="store_true",
                    help="train every model anew (default: reuse a model already trained under --runs)")
    ap.add_argument("--threads", type=int, default=1, help="torch/FAISS threads per process (1: fastest on a busy CPU)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by train.py / cluster.py
    import torch

    torch.set_num_threads(args.threads)
    if args.whole:
        args.data = args.data or WHOLE_DATA
        return run_whole(args)
    for data in args.data or ["fsdd", "synthetic"]:
        if data == "fsdd" and not FSDD.is_dir():
            print(f"skipping fsdd: not found at {FSDD}")
            continue
        if data == "drums" and not DRUMS.is_dir():
            print(f"skipping drums: not found at {DRUMS} (bash ../shared/data/drums/build.sh makes it)")
            continue
        run_one(data, args)


def run_one(data: str, args) -> None:
    root = {"fsdd": FSDD, "fsdd_folder": FSDD, "drums": DRUMS}.get(data) or (
        _mixed_root() if data == "mixed" else synthetic_root())
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
    title = f"{args.title} ({data})" if args.title else f"Quality on {data}"
    write_section(title, text if args.out else text.replace(f"## Quality on {data}", f"## {title}", 1), args.out)


MIXED_CLASSES = ("low_tone", "high_tone", "harmonic_high", "chirp_down", "fm_tone", "click_slow", "noise_low",
                 "noise_high", "tone_pair", "decay_pluck")   # every other synthetic class


def _mixed_root(n_per_class: int = 30, seed: int = 0) -> Path:
    """10 synthetic classes x n clips, each of its own length, log-uniform in 0.3-5 s (seeded): the sound fills
    0.3-0.9 of its clip, anywhere in it, so in the longer clips it often starts after the first second."""
    import soundfile as sf

    from audioclust.data.synthetic import CLASSES, clip_rng, make_clip

    out = ROOT / ".cache" / f"mixed_n{n_per_class}_s{seed}"
    if (out / ".complete").is_file():
        return out
    for name in MIXED_CLASSES:
        (out / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            d = float(np.exp(np.random.default_rng([seed, 99, CLASSES.index(name), i]).uniform(np.log(0.3), np.log(5.0))))
            sf.write(out / name / f"{name}_{i:03d}.wav", make_clip(name, clip_rng(seed, name, i), 16000, d), 16000,
                     subtype="PCM_16")
    (out / ".complete").write_text(f"{len(MIXED_CLASSES) * n_per_class} files\n")
    return out


if __name__ == "__main__":
    main()
