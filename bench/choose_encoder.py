"""Choosing an encoder without labels: how often a label-free criterion picks the best recipe, and what it costs.

    python bench/choose_encoder.py [--runs logs/bench/recipes]     # needs bench/recipes.py's cached embeddings

For every data set and every cached encoder (bench/recipes.py: aisfx, birdnet, speech, speaker, blockae), the
recipe `preprocess l2 -> UMAP-10 -> k-means(k)` is run once (seed 0); each candidate's clusters get label-free
scores (silhouette in the UMAP space, and on the cosine geometry of the l2-normalised embedding before UMAP)
and the candidate with the best score is "picked". Labels then say which candidate was really best (NMI) and
what the pick cost. Results go into BENCHMARKS.md, section "Choosing an encoder without labels".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from frontend import write_section  # noqa: E402

TARGETS = {   # data set -> [(target, k, label of a path)]
    "drums": [("class", 10, lambda p: Path(p).parent.name)],
    "fsdd": [("digit", 10, lambda p: re.match(r"(\d)_", Path(p).name).group(1)),
             ("speaker", 6, lambda p: re.match(r"\d_([a-z]+)_", Path(p).name).group(1))],
    "synthetic": [("class", 20, lambda p: Path(p).parent.name)],
}
ENCODERS = ("blockae", "aisfx", "birdnet", "speech", "speaker")


def evaluate(x: np.ndarray, labels: list[str], k: int) -> dict:
    from sklearn.metrics import normalized_mutual_info_score, silhouette_score

    from audioclust.cluster.kmeans import Preprocess, assign, fit_kmeans
    from audioclust.cluster.reduce import Reducer

    pre = Preprocess("l2").fit(x)(x)
    z = Reducer("umap", dim=10, n_neighbors=30, seed=0).fit_transform(pre)
    c, _ = assign(z, fit_kmeans(z, k, seed=0, gpu=False), False)
    return {"nmi": float(normalized_mutual_info_score(labels, c)),
            "silhouette_umap": float(silhouette_score(z, c)),
            "silhouette_cosine": float(silhouette_score(pre, c, metric="cosine"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "recipes"))
    ap.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    args = ap.parse_args()
    runs, rows, results = Path(args.runs), [], {}
    for data, targets in TARGETS.items():
        for target, k, label_of in targets:
            cands = {}
            for enc in ENCODERS:
                d = runs / data / enc
                if not (d / "embeddings.npy").is_file():
                    continue
                paths = json.loads((d / "meta.json").read_text())["paths"]
                cands[enc] = evaluate(np.load(d / "embeddings.npy"), [label_of(p) for p in paths], k)
                print(data, target, enc, cands[enc], flush=True)
            if not cands:
                continue
            best = max(cands, key=lambda e: cands[e]["nmi"])
            line = [f"{data} {target} (k={k})", f"{best} {cands[best]['nmi']:.3f}"]
            for crit in ("silhouette_umap", "silhouette_cosine"):
                pick = max(cands, key=lambda e: cands[e][crit])
                line.append(f"{pick} {cands[pick]['nmi']:.3f} ({cands[pick]['nmi'] - cands[best]['nmi']:+.3f})")
            rows.append("| " + " | ".join(line) + " |")
            results[f"{data}/{target}"] = cands
    picks = {c: sum(r.split(" | ")[1].split()[0] == r.split(" | ")[i].split()[0] for r in rows)
             for i, c in ((2, "silhouette_umap"), (3, "silhouette_cosine"))}
    text = "\n".join([
        "## Choosing an encoder without labels", "",
        f"`python bench/choose_encoder.py` on bench/recipes.py's cached embeddings; {platform.machine()}, "
        f"{os.cpu_count()} cores. Per target: every encoder's `l2 -> UMAP-10 -> k-means` clusters (seed 0), the "
        "best by NMI (labels), and the pick of each label-free criterion with its NMI (and the loss against the "
        f"best). Picked the best: silhouette in UMAP space {picks['silhouette_umap']}/{len(rows)}, cosine "
        f"silhouette {picks['silhouette_cosine']}/{len(rows)}.", "",
        "| target | best (NMI) | pick: silhouette, UMAP space | pick: silhouette, cosine |", "|---|---|---|---|",
        *rows, ""])
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    else:
        write_section("Choosing an encoder without labels", text)


if __name__ == "__main__":
    main()
