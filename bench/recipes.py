"""Recipes x data sets: every way audioclust can embed and cluster a folder, scored on every labelled set here.

    python bench/recipes.py                                   # drums, FSDD (digits, speakers), synthetic
    python bench/recipes.py --data drums fsdd --encoders speech speaker
    python bench/recipes.py --data sfx --mixes aisfx+birdnet birdnet+blockae --section 'Recipes x data sets: sfx'
    python bench/recipes.py --data folder --folder /tmp/clips --k 3 --train-override trainer.max_epochs=1 --out x.md

Rows are recipes, columns data sets (labels score only; they are never used to embed or cluster):
- each pretrained encoder (aisfx, birdnet, speech, speaker; docs/encoders.md): the adapter's mean-pooled clip
  embedding (`audioclust.embed`), then cluster.py's own clustering (`audioclust.cluster`, conf/cluster.yaml's
  defaults: preprocess l2 -> reduce -> FAISS k-means), without and with `reduce="umap"`;
- blockae: the block autoencoder trained by train.py on that data set (drums, sfx: `data=folder` defaults; FSDD:
  `experiment=fsdd`; synthetic: `experiment=demo`), reused when already under --runs, clustered the same way;
  on FSDD also the documented co-clustering recipes (`voice=speech` for digits, `voice=speakers kmeans.k=10` for
  speakers), run as a user runs them: `cluster.py -m run_dir=<the run> seed=...` (the Python API has no voice groups);
- the classic baselines of bench/baselines.py (their own z-score / PCA / UMAP path).

Each (encoder, data set) is embedded ONCE, in this process, by the public API (`audioclust.embed`: the cluster
task's route, Lightning predict) and cached under --runs (embeddings.npy, meta.json with the clip paths and the
embedding time; --data folder: under folders/<name>-<hash of its path>, each folder its own); the k-means seeds and
the UMAP variant reuse it.
Clip length 1 s, pinned (`data.clip_seconds=1.0 data.hop_seconds=null`: the `data=folder` default when the table
was made; whole clips, the default now, are compared with it by `bench/quality.py --whole`), except on sfx (made
later by bench/sfx_data.sh): whole files as `data=folder` reads them now, each file one row. BirdNET pads each clip
to its 3 s chunk itself.

Cells: NMI and ACC, mean ± std over the k-means seeds. Per recipe and data set: embedding seconds per clip and the
wall time a user would spend (training, for blockae + embedding + clustering with every seed). The table goes into
BENCHMARKS.md, section 'Recipes x data sets'.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
from common import ROOT, machine, write_section
from sets import DRUMS, FSDD, SFX, labels_of, spread, synthetic_root  # the same folders, subset rule and generated set as quality.py

from audioclust.embed.encoders import registry
from audioclust.embed.encoders.mix import side_by_side

ENCODERS = registry.pretrained()   # every pretrained encoder (conf/encoder; audioclust/embed/encoders/registry.py)
DIGIT, SPEAKER = r"^(\d)_", r"^\d_([a-z]+)_"
ONE_SECOND = {"clip_seconds": 1.0, "hop_seconds": None}   # this table's protocol (the folder default then)
WHOLE_FILES = {"pool_windows_up_to": 180}   # data=folder's whole files, and each file one row up to 180 s


def data_overrides(windowing: dict) -> list[str]:
    """A windowing (audioclust.embed's) as train.py's data.* overrides."""
    return [f"data.{k}={'null' if v is None else v}" for k, v in windowing.items()]


# data set -> its folder (None: generated), the classic baselines' sample rate, train.py overrides of its blockae,
# how every encoder reads it (clip: audioclust.embed's windowing; sfx, added later, is read whole as data=folder
# does now, each file one row),
# columns {name: (label regex of the file name or None for the parent folder, k, extra cluster overrides of the
# co-clustering row or None where that recipe is not documented)}
DATASETS = {
    "drums": {"root": DRUMS, "sr": 16000,
              "train": ["data=folder", f"data.root={DRUMS}", "data.labels.source=parent", "data.n_clusters=10",
                        *data_overrides(ONE_SECOND)],
              "clip": ONE_SECOND, "columns": {"drums k=10": (None, 10, None)}},
    "sfx": {"root": SFX, "sr": 16000,   # whole files, each one row (its ambience loops run to 168 s)
            "train": ["data=folder", f"data.root={SFX}", "data.labels.source=parent", "data.n_clusters=10",
                      *data_overrides(WHOLE_FILES)],
            "clip": WHOLE_FILES, "columns": {"sfx k=10": (None, 10, None)}},
    "fsdd": {"root": FSDD, "sr": 8000, "train": ["experiment=fsdd", f"data.root={FSDD}"], "clip": ONE_SECOND,
             "columns": {"FSDD digits k=10": (DIGIT, 10, ["voice=speech"]),
                         "FSDD speakers k=6": (SPEAKER, 6, ["voice=speakers", "kmeans.k=10"])}},
    "synthetic": {"root": None, "sr": 16000, "train": ["experiment=demo"], "clip": ONE_SECOND,
                  "columns": {"synthetic k=20": (None, 20, None)}},
    "folder": {"root": None, "sr": 16000, "train": ["data=folder", "data.labels.source=parent", *data_overrides(ONE_SECOND)], "clip": ONE_SECOND,
               "columns": {"folder": (None, None, None)}},   # --folder / --k: any folder with class subfolders
}


def script(*args: str) -> float:
    """train.py / cluster.py as a user runs them; wall seconds."""
    t = time.perf_counter()
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="1", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")
    return time.perf_counter() - t


def train_seconds(run: Path) -> float | None:
    """Seconds of the run's first training, from its train.log (first line to the first 'model saved')."""
    stamps = []
    log = run / "train.log"
    if not log.is_file():
        return None
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\]", line)
        if m:
            stamps.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f"))
            if "model saved" in line:
                return (stamps[-1] - stamps[0]).total_seconds()
    return None


def train_blockae(data: str, spec: dict, root: Path, runs: Path, args) -> tuple[Path, float | None, bool]:
    """The data set's block autoencoder: trained once under runs/<data>/blockae (reused when there)."""
    run = runs / data / "blockae"
    reused = (run / "model.pt").is_file()
    if not reused:
        where = [f"data.root={root}"] if data == "folder" else []
        seconds = script("train.py", *spec["train"], *where, *args.train_override, "logger=none", f"threads={args.threads}",
                         f"seed={0}", f"hydra.run.dir={run}")
    else:
        seconds = train_seconds(run)
    return run, seconds, reused


def embed_once(data: str, encoder: str, root: Path | None, runs: Path, args) -> dict | None:
    """Embeddings of every clip (audioclust.embed), cached; None when the encoder's extra is missing."""
    import audioclust
    from audioclust.data.audio import list_audio_files
    from audioclust.errors import ConfigError

    out = runs / data / encoder
    meta_path = out / "meta.json"
    if meta_path.is_file() and (out / "embeddings.npy").is_file():
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
    else:
        spec = DATASETS[data]
        if encoder == "blockae":   # the run's own data config (clip length, trimming) on the run's folder
            run, tsec, reused = train_blockae(data, spec, root, runs, args)
            how: dict = {"run_dir": run}
        else:
            how = {"encoder": encoder, "windowing": spec["clip"]}
            tsec, reused = None, False
        t = time.perf_counter()
        try:   # one clip first: the model's load and first calls (numba, litert compile / plan), not per clip
            audioclust.embed(list_audio_files(root)[:1], device="cpu", **how)
        except ConfigError as exc:
            print(f"skipping encoder={encoder}: {exc}", flush=True)
            return None
        load_s = time.perf_counter() - t
        t = time.perf_counter()   # the rows a run clusters (a file up to pool_windows_up_to: one row)
        emb = audioclust.embed(None if encoder == "blockae" else root, device="cpu", max_files=args.max_files, **how)
        embed_s = time.perf_counter() - t
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "embeddings.npy", emb.vectors)
        meta = {"paths": list(emb.path), "embed_seconds": embed_s, "load_seconds": load_s, "train_seconds": tsec,
                "model_reused": reused, "n_skipped": len(emb.skipped)}
        meta_path.write_text(json.dumps(meta))
        meta["cached"] = False
    x = np.load(out / "embeddings.npy")
    print(f"{data}/{encoder}: {len(x)} clips, {x.shape[1]}-d, embedding {meta['embed_seconds']:.0f} s"
          f"{' (cached)' if meta['cached'] else ''}", flush=True)
    return {**meta, "x": x}


def cluster_seeds(x, labels, k: int, reduce: str, seeds, weights=None) -> tuple[list[dict], float]:
    """cluster.py's clustering (audioclust.cluster: conf/cluster.yaml's defaults) of cached embeddings, once per
    seed (weights: an encoder=mix's per-dimension weights)."""
    import audioclust
    from audioclust.cluster.metrics import label_scores

    scores, t = [], time.perf_counter()
    for seed in seeds:
        clusters = audioclust.cluster(x, k=k, reduce=reduce, seed=seed, gpu=False, weights=weights)
        scores.append(label_scores(labels, clusters.labels_, noise=-1))
    return scores, time.perf_counter() - t


def cocluster_seeds(run: Path, labels_pattern: str | None, k: int, overrides: list[str], seeds, sweep: Path,
                    args) -> tuple[list[dict], float]:
    """A documented co-clustering recipe (voice=...: voice groups, which the Python API has not) as a user runs it:
    `cluster.py -m run_dir=<run> seed=...` with reduce.method=umap; each seed's assignments.csv scored."""
    import csv

    from audioclust.cluster.metrics import label_scores

    subset = [f"data.max_files={args.max_files}"] if args.max_files else []
    k_given = [o for o in overrides if o.startswith("kmeans.k=")] or [f"kmeans.k={k}"]   # voice=speakers: words, not speakers
    seconds = script("cluster.py", "-m", f"run_dir={run}", "seed=" + ",".join(map(str, seeds)), *k_given, "kmeans.gpu=false",
                     "progress=false", "reduce.method=umap", *[o for o in overrides if o not in k_given], *subset,
                     f"threads={args.threads}", "wandb.enabled=false", "report.plots=false", "report.explorer=false",
                     f"hydra.sweep.dir={sweep}")
    scores = []
    for i in range(len(seeds)):
        with open(sweep / str(i) / "assignments.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        scores.append(label_scores(labels_of([r["path"] for r in rows], labels_pattern),
                                   [int(r["cluster"]) for r in rows], noise=-1))
    return scores, seconds


def stats(scores: list[dict]) -> dict:
    return {k: (float(np.mean([s[k] for s in scores])), float(np.std([s[k] for s in scores])))
            for k in ("nmi", "acc", "ari")}


def run_dataset(data: str, root: Path | None, args, results: dict) -> None:
    """Fills results[recipe][column] with {nmi, acc, ari, embed_s_per_clip, wall_s, n} for one data set."""
    spec = DATASETS[data]
    runs = Path(args.runs)
    columns = spec["columns"]
    if data == "folder":   # each folder's own cache (its trained model and embeddings), by name and resolved path
        columns = {f"{root.name} k={args.k}": (None, args.k, None)}
        runs = runs / "folders" / f"{root.name}-{hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:8]}"

    def put(recipe: str, column: str, scores: list[dict], wall: float, per_clip: float | None, n: int, note=""):
        results.setdefault(recipe, {})[column] = {**stats(scores), "wall": wall, "per_clip": per_clip, "n": n,
                                                  "note": note}
        s = results[recipe][column]
        print(f"  {recipe:40s} {column:20s} NMI {s['nmi'][0]:.3f} ± {s['nmi'][1]:.3f}  ACC {s['acc'][0]:.3f}  "
              f"wall {wall:.0f} s", flush=True)

    _warm_umap()
    cached = {}
    for encoder in ("blockae", *args.encoders) if args.blockae else args.encoders:
        emb = cached[encoder] = embed_once(data, encoder, root, runs, args)
        if emb is None:
            continue
        base = emb["embed_seconds"] + emb["load_seconds"] + (emb["train_seconds"] or 0.0)
        per_clip = emb["embed_seconds"] / max(len(emb["x"]), 1)
        note = (f"{data} blockae: a model already under --runs was reused, its training seconds "
                f"({emb['train_seconds'] or 0:.0f}) read from its train.log" if emb.get("model_reused") else "")
        for column, (pattern, k, cocluster) in columns.items():
            labels = labels_of(emb["paths"], pattern)
            for suffix, reduce in (("", "none"), (" + umap", "umap")):
                scores, seconds = cluster_seeds(emb["x"], labels, k, reduce, args.seeds)
                put(f"{encoder}{suffix}", column, scores, base + seconds, per_clip, len(labels), note)
            if encoder == "blockae" and cocluster:
                sweep = runs / data / "cocluster" / re.sub(r"\W+", "_", column)
                scores, seconds = cocluster_seeds(runs / data / "blockae", pattern, k, cocluster, args.seeds, sweep, args)
                put(f"{encoder} + umap + voice co-clustering", column, scores, base + seconds, per_clip, len(labels), note)
    for mix in args.mixes:   # encoder=mix: the members' cached embeddings side by side (tests: equal to MixEncoder's)
        members = [cached.get(m) for m in mix.split("+")]
        if any(m is None for m in members) or any(m["paths"] != members[0]["paths"] for m in members):
            print(f"skipping mix {mix}: a member is missing or embedded other clips", flush=True)
            continue
        x = np.concatenate([m["x"] for m in members], 1)
        weights = side_by_side(m["x"].shape[1] for m in members)[0]
        base = sum(m["embed_seconds"] + m["load_seconds"] + (m["train_seconds"] or 0.0) for m in members)
        per_clip = sum(m["embed_seconds"] for m in members) / max(len(x), 1)
        for column, (pattern, k, _) in columns.items():
            labels = labels_of(members[0]["paths"], pattern)
            for suffix, reduce in (("", "none"), (" + umap", "umap")):
                scores, seconds = cluster_seeds(x, labels, k, reduce, args.seeds, weights)
                put(f"mix {mix}{suffix}", column, scores, base + seconds, per_clip, len(labels))
    if not args.baselines:
        return
    import baselines  # bench/ (on sys.path via common), after the checkout is first on sys.path

    from audioclust.data.audio import list_audio_files

    paths = spread(list_audio_files(root), args.max_files)
    feats: dict = {}
    for name, method in BASELINES.items():
        feature, trim, reduce = method
        feature = getattr(baselines, feature)
        if (feature, trim) not in feats:
            t = time.perf_counter()
            x = feature(baselines.decode(paths, spec["sr"], trim), spec["sr"])
            feats[(feature, trim)] = (x, time.perf_counter() - t)
        x, feat_s = feats[(feature, trim)]
        for column, (pattern, k, _) in columns.items():
            t = time.perf_counter()
            scores = baselines.cluster_scores(x, labels_of(paths, pattern), k, args.seeds, reduce)
            put(name, column, scores, feat_s + time.perf_counter() - t, feat_s / len(paths), len(paths))


BASELINES = {   # bench/baselines.py's features (by name); the same z-score -> PCA / UMAP -> FAISS k-means
    "classic: MFCC (20) mean+std": ("mfcc_stats", None, "none"),
    "classic: MFCC (20) mean+std, PCA-50, UMAP-10": ("mfcc_stats", None, "umap"),
    "classic: log-mel (64) over 1 s, PCA-50": ("logmel_fixed", None, "pca"),
    "classic: log-mel (64) over 1 s, PCA-50, UMAP-10": ("logmel_fixed", None, "umap"),
    "classic: trimmed, aligned MFCC, PCA-50": ("mfcc_aligned", 30, "pca"),
    "classic: trimmed, aligned MFCC, PCA-50, UMAP-10": ("mfcc_aligned", 30, "umap"),
}


WHOLE = "read whole as `data=folder` does now (1 s windows to each file's end, pooled by signal power), each file one row"


def whole_note(args) -> str:
    """What the table says of the sets read whole (the others are 1 s crops)."""
    notes = []
    if "sfx" in args.data:
        notes.append("sfx: 10 classes of recorded sound effects (bash bench/sfx_data.sh: Debian's 0ad-data, CC BY-SA "
                     f"3.0), 0.1-168 s, {WHOLE} (`data.pool_windows_up_to=180`)")
    if "folder" in args.data and args.whole:
        notes.append(f"the folder: {WHOLE} (up to 180 s)")
    return "; ".join(notes)


def _warm_umap() -> None:
    """numba compiles UMAP on first use: not in any recipe's time."""
    import audioclust

    audioclust.cluster(np.random.default_rng(0).normal(size=(60, 8)), k=2, reduce={"method": "umap", "n_neighbors": 10}, gpu=False)


def _cell(s: dict | None) -> str:
    if s is None:
        return "-"
    return f"{s['nmi'][0]:.2f} ± {s['nmi'][1]:.2f} / {s['acc'][0]:.2f} ± {s['acc'][1]:.2f}"


def table(results: dict, columns: list[str], seeds, start_machine: str, data_info: dict,
          section: str = "Recipes x data sets", whole: str = "") -> str:
    order = sorted(results, key=_row_order)
    head = ["recipe", *columns, "embedding s/clip", "wall s"]
    home = str(Path.home())   # the user's home as ~ (no machine's path in BENCHMARKS.md)
    command = shlex.join(["python", "bench/recipes.py", *sys.argv[1:]]).replace(home + "/", "~/")
    lines = [f"## {section}", "",
             f"`{command}`; {start_machine}; {platform.platform()}; 1 thread per process "
             f"(torch, FAISS, onnxruntime, litert). Cells: **NMI / ACC**, mean ± std over k-means seeds "
             f"{list(seeds)}; labels only score. Clips: " + "; ".join(f"{c}: {n}" for c, n in data_info.items())
             + (f". {whole}; the other sets: clip length 1 s" if whole else ". Clip length 1 s")
             + " (`data.clip_seconds=1.0 data.hop_seconds=null`, the folder default then; BirdNET pads to its 3 s "
             "chunk). Pretrained encoders and blockae: the clip embedding (adapter's masked mean of frames; blockae's "
             "pooled block codes), then cluster.py's clustering (`preprocess=l2`, optional `reduce.method=umap` "
             "(10-d, 30 neighbours), FAISS k-means, conf/cluster.yaml defaults). blockae: trained per data set "
             "(drums and sfx `data=folder` defaults, FSDD `experiment=fsdd`, synthetic `experiment=demo`); voice "
             "co-clustering (FSDD only, README): digits `voice=speech`, speakers `voice=speakers kmeans.k=10` (the 6 "
             "voice groups are the clusters). **mix A+B**: `encoder=mix encoder.members=[A,B]`, the members' embeddings side by "
             "side, each member's dimensions weighted 1/sqrt(its dim) after the z-score (embedding time: the members'); "
             "member blockae: that data set's blockae run (`run_dir=`, embedded as the blockae row). Classic: bench/baselines.py (z-score, PCA-50, UMAP-10, FAISS k-means). "
             "Each (encoder, data set) embedded once (`audioclust.embed`) and cached, clustered by `audioclust.cluster` "
             "(co-clustering: `cluster.py -m seed=...`, which embeds again per seed); **embedding s/clip**: the "
             "`audioclust.embed` call of the set (model load and Lightning predict) after a warm-up call on one clip "
             "(first-call compilation), per data set in column order; **wall s**: what a user spends for that recipe "
             "per data set (blockae training + the warm-up call + embedding + clustering with every seed; classic: "
             "features + clustering).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for recipe in order:
        cells = results[recipe]
        per_data = []   # one number per data set (FSDD's two columns share one embedding)
        for c in columns:
            if c in cells and not (c.startswith("FSDD speakers") and "FSDD digits k=10" in cells):
                per_data.append(cells[c])
        clip = " / ".join("-" if s["per_clip"] is None else f"{s['per_clip']:.3f}" for s in per_data)
        wall = " / ".join(f"{s['wall']:.0f}" for s in per_data)
        lines.append("| " + " | ".join([recipe, *[_cell(cells.get(c)) for c in columns], clip or "-", wall or "-"]) + " |")
    notes = sorted({s["note"] for r in results.values() for s in r.values() if s.get("note")})
    if notes:
        lines += ["", "Notes: " + "; ".join(notes) + "."]
    lines += ["", _summary(results, columns)]
    return "\n".join(lines) + "\n"


def _row_order(recipe: str):
    name = recipe.split(" ")[0]
    group = 0 if name == "blockae" else 1 if name in ENCODERS else 2 if name == "mix" else 3
    return group, ENCODERS.index(name) if name in ENCODERS else 0, recipe


def _summary(results: dict, columns: list[str]) -> str:
    """Best recipe per column, and the best single pretrained model (either reduce) per column, by mean NMI."""
    out = ["Best by mean NMI per column:", ""]
    for c in columns:
        scored = {r: v[c] for r, v in results.items() if c in v}
        if not scored:
            continue
        best = max(scored, key=lambda r: scored[r]["nmi"][0])
        enc = {r: s for r, s in scored.items() if r.split(" ")[0] in ENCODERS}
        line = f"- {c}: **{best}** ({_cell(scored[best])})"
        if enc:
            be = max(enc, key=lambda r: enc[r]["nmi"][0])
            line += f"; best pretrained model: {be} ({_cell(enc[be])})"
        out.append(line)
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["drums", "fsdd", "synthetic"], choices=list(DATASETS))
    ap.add_argument("--folder", default=None, help="--data folder: a folder of clips in class subfolders")
    ap.add_argument("--k", type=int, default=None, help="--data folder: the number of classes")
    ap.add_argument("--whole", action="store_true",
                    help="--data folder: read whole files, each one row (as sfx), instead of 1 s crops")
    ap.add_argument("--encoders", nargs="*", default=list(ENCODERS), choices=list(ENCODERS))
    ap.add_argument("--mixes", nargs="*", default=["aisfx+birdnet"],
                    help="encoder=mix rows: members joined by + (their embeddings side by side, equally weighted)")
    ap.add_argument("--no-blockae", dest="blockae", action="store_false")
    ap.add_argument("--no-baselines", dest="baselines", action="store_false")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--max-files", type=int, default=None, help="an evenly spread subset (quick checks)")
    ap.add_argument("--train-override", nargs="*", default=[], help="extra train.py overrides (e.g. tests)")
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "recipes"),
                    help="trained models and cached embeddings (reused when there)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", default=None, help="also write the raw results here (JSON)")
    ap.add_argument("--out", default=None, help="write the table here instead of BENCHMARKS.md")
    ap.add_argument("--section", default="Recipes x data sets",
                    help="the BENCHMARKS.md section it writes (another name keeps the full table)")
    args = ap.parse_args()
    if args.whole:
        DATASETS["folder"].update(train=["data=folder", "data.labels.source=parent", *data_overrides(WHOLE_FILES)], clip=WHOLE_FILES)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    start = machine()
    import torch

    torch.set_num_threads(args.threads)
    from audioclust.cluster.faiss_backend import load_faiss

    load_faiss().omp_set_num_threads(args.threads)
    results: dict = {}
    columns: list[str] = []
    info: dict = {}
    text = ""
    t0 = time.perf_counter()
    for data in args.data:
        root = {"drums": DRUMS, "fsdd": FSDD, "sfx": SFX}.get(data)
        if data == "synthetic":
            root = synthetic_root()
        if data == "folder":
            if not args.folder or not args.k:
                ap.error("--data folder needs --folder and --k")
            root = Path(args.folder)
        if not root.is_dir():
            make = {"drums": "bash ../shared/data/drums/build.sh", "sfx": "bash bench/sfx_data.sh"}.get(data)
            print(f"skipping {data}: not found at {root}" + (f" ({make} makes it)" if make else ""))
            continue
        print(f"== {data} ({root})", flush=True)
        before = set(c for r in results.values() for c in r)
        run_dataset(data, root, args, results)
        new = [c for r in results.values() for c in r if c not in before]
        for c in dict.fromkeys(new):
            columns.append(c)
            info[c] = max(r[c]["n"] for r in results.values() if c in r)
        if args.results:
            Path(args.results).write_text(json.dumps(results, indent=1))
        text = table(results, columns, args.seeds, start, info, args.section, whole_note(args))   # after each data set: partial results stay
        write_section(args.section, text, args.out)
    print(f"total {time.perf_counter() - t0:.0f} s")
    print(text)


if __name__ == "__main__":
    main()
