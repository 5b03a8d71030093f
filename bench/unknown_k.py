"""k unknown: HDBSCAN (cluster.method=hdbscan) against the k-means search (kmeans.search=[min,max]), both after UMAP.

    python bench/unknown_k.py --data synthetic                      # trains experiment=demo first if needed
    python bench/unknown_k.py --data synthetic fsdd drums --seeds 0 1

Per data set: a model trained as README recommends (reused when already under --runs), one `cluster.py` run
(cluster.method=hdbscan reduce.method=umap, as a user runs it) that embeds every clip and writes embeddings.npy and
the labels (scoring only); then both methods cluster those same embeddings in this process through the Stage that
cluster.py uses (preprocess l2 -> UMAP 10-d -> HDBSCAN, or -> k-means for every k in the range, silhouette picks).
Neither is told the number of classes. Wall time: the clustering alone (UMAP included), not the embedding.
Scores: ACC / NMI / ARI on every clip (noise: one more label for NMI/ARI, wrong for ACC) and on the clustered clips
only. The table goes into BENCHMARKS.md, section 'Unknown k: HDBSCAN vs k-means search'.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, write_section

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
DRUMS = Path.home() / ".cache" / "audioclust-data" / "drums"
DATASETS = {   # train.py overrides, cluster.py overrides, classes (for the table only), k-means search range
    "synthetic": (["experiment=demo"], [], 20, (5, 40)),
    "fsdd": (["experiment=fsdd", f"data.root={FSDD}"], [], 10, (5, 30)),
    "drums": (["data=folder", f"data.root={DRUMS}", "data.clip_seconds=1.0"], ["data.labels.source=parent"], 9, (5, 30)),
}


def script(*args: str) -> None:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", HYDRA_FULL_ERROR="1", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{p.stderr[-3000:]}")


def embeddings(name: str, runs: Path, threads: int) -> tuple[np.ndarray, list[str]]:
    train_ov, cluster_ov, _, _ = DATASETS[name]
    run, out = runs / name, runs / name / "fit" / "bench_hdbscan"
    if not (run / "model.pt").is_file():
        script("train.py", *train_ov, "logger=none", f"threads={threads}", f"hydra.run.dir={run}")
    if not (out / "embeddings.npy").is_file():
        script("cluster.py", f"run_dir={run}", "cluster.method=hdbscan", "reduce.method=umap", f"threads={threads}",
               "wandb.enabled=false", "report.plots=false", "report.explorer=false", *cluster_ov,
               f"hydra.run.dir={out}")
    with open(out / "assignments.csv", newline="") as f:
        labels = [r["label"] for r in csv.DictReader(f)]
    return np.load(out / "embeddings.npy"), labels


def run(method: str, x, labels, k_range, seed: int) -> dict:
    from audioclust.cluster.density import HDBSCAN
    from audioclust.cluster.ksearch import search_k
    from audioclust.cluster.methods import KMeans
    from audioclust.cluster.metrics import clustering_scores
    from audioclust.cluster.pipeline import Stage

    reduce = {"method": "umap", "dim": 10, "n_neighbors": 30}
    km = {"niter": 20, "nredo": 10, "max_points_per_centroid": 256, "init": "kmeans++", "refine": 1}
    t = time.perf_counter()
    if method == "hdbscan":
        stage = Stage("l2", reduce, HDBSCAN(gpu=False), seed)
        clusters, _, z = stage.fit(x, None)
    else:
        stage = Stage("l2", reduce, KMeans(seed=seed, gpu=False, **km), seed)
        clusters, _, z = stage.fit(x, lambda z: search_k(z, *k_range, seed=seed, gpu=False)["best_k"])
    seconds = time.perf_counter() - t
    s = clustering_scores(z, clusters, labels, seed=seed, noise=True)
    return {**s, "seconds": seconds}


def table(rows: list[dict], seeds) -> str:
    keys = ["n_clusters", "noise_fraction", "acc", "nmi", "ari", "acc_clustered", "nmi_clustered", "ari_clustered",
            "seconds"]
    head = ["data (classes, clips)", "method", "clusters found", "noise", "ACC", "NMI", "ARI", "ACC clustered",
            "NMI clustered", "ARI clustered", "wall s"]
    lines = ["## Unknown k: HDBSCAN vs k-means search", "",
             f"`python bench/unknown_k.py`; {machine()}; 1 thread; seeds {list(seeds)} (mean; clusters found: each "
             "seed's). Both methods get the same embeddings (one trained model per data set), l2 preprocess, UMAP to "
             "10-d, and are not told the number of classes: `cluster.method=hdbscan` (defaults: min_cluster_size 1% "
             "of the clips, min_samples = min_cluster_size, eom) and `kmeans.search=[min,max]` (silhouette picks k). "
             "'clustered': scored on the clips not labelled noise only. Wall s: the clustering (UMAP included), not "
             "the embedding.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["data"], r["method"], "/".join(str(v) for v in r["n_clusters"])]
        for k in keys[1:]:
            cells.append(f"{r[k]:.0f}" if k == "seconds" else f"{r[k]:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=["synthetic", "fsdd", "drums"], choices=list(DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "unknown_k"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="write the table here instead of BENCHMARKS.md")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    rows = []
    for name in args.data:
        x, labels = embeddings(name, Path(args.runs), args.threads)
        from audioclust.cluster.reduce import Reducer  # numba compiles UMAP on first use: not in either's time

        Reducer("umap", dim=10, n_neighbors=10).fit_transform(np.asarray(x[:200], np.float32))
        _, _, classes, k_range = DATASETS[name]
        for method in ("hdbscan", f"kmeans.search={list(k_range)}"):
            per_seed = [run(method.split(".")[0], x, labels, k_range, s) for s in args.seeds]
            row = {"data": f"{name} ({classes}, {len(x)})", "method": method,
                   "n_clusters": [p["n_clusters"] for p in per_seed]}
            row.update({k: float(np.mean([p[k] for p in per_seed])) for k in
                        ("noise_fraction", "acc", "nmi", "ari", "acc_clustered", "nmi_clustered", "ari_clustered",
                         "seconds")})
            rows.append(row)
            print(row, flush=True)
    text = table(rows, args.seeds)
    print(text)
    write_section("Unknown k: HDBSCAN vs k-means search", text, args.out)


if __name__ == "__main__":
    main()
