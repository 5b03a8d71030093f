"""Choosing an encoder without labels: how often encoder=auto picks the best encoder, and what it costs.

    python bench/choose_encoder.py [--runs logs/bench/recipes]     # needs bench/recipes.py's cached embeddings

For every data set and target, every cached pretrained encoder (bench/recipes.py: aisfx, birdnet, speech,
speaker) is scored as encoder=auto scores it (stability of its clusters on subsample pairs of a sample,
audioclust/cluster/choose.py), with k-means alone and after UMAP; the highest is "picked". Labels then say which
candidate was really best (NMI) and what the pick cost. An earlier version of this bench measured silhouette as
the criterion: it picked the best 0/4 times (it rewards whatever grouping is cleanest, e.g. speakers when k=10
words are asked for). Results go into BENCHMARKS.md, section "Choosing an encoder without labels".
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import write_section  # noqa: E402

from audioclust.embed.encoders import registry  # noqa: E402

TARGETS = {   # data set -> [(target, k, label of a path)]
    "drums": [("class", 10, lambda p: Path(p).parent.name)],
    "sfx": [("class", 10, lambda p: Path(p).parent.name)],   # bench/sfx_data.sh
    "fsdd": [("digit", 10, lambda p: re.match(r"(\d)_", Path(p).name).group(1)),
             ("speaker", 6, lambda p: re.match(r"\d_([a-z]+)_", Path(p).name).group(1))],
    "synthetic": [("class", 20, lambda p: Path(p).parent.name)],
}
ENCODERS = registry.pretrained()   # conf/encoder/auto.yaml's default candidates


def evaluate(x: np.ndarray, labels: list[str], k: int, reduce: str, sample: int, pairs: int) -> dict:
    """One candidate, as encoder=auto sees it (tasks/choose.py): stability of its clusters on a seeded sample of
    `sample` clips, and, with labels, the NMI of the run's clusters of every clip (seed 0)."""
    from sklearn.metrics import normalized_mutual_info_score

    import audioclust
    from audioclust.cluster.choose import stability

    def fit(rows: np.ndarray, seed: int) -> np.ndarray:   # cluster.py's clustering (conf/cluster.yaml defaults)
        return audioclust.cluster(rows, k=k, reduce=reduce, seed=seed, gpu=False).labels_

    rows = np.arange(len(x))
    if len(x) > sample:
        rows = np.sort(np.random.default_rng(0).choice(len(x), sample, replace=False))
    t = time.perf_counter()
    st = stability(x[rows], fit, pairs=pairs, seed=0)
    seconds = time.perf_counter() - t
    clusters = fit(x, 0)
    return {"nmi": float(normalized_mutual_info_score(labels, clusters)), "stability": st.score,
            "stability_seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "recipes"))
    ap.add_argument("--sample", type=int, default=1000, help="encoder.sample of conf/encoder/auto.yaml")
    ap.add_argument("--pairs", type=int, default=2, help="encoder.pairs of conf/encoder/auto.yaml")
    ap.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    ap.add_argument("--data", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    args = ap.parse_args()
    runs, rows, picked, total = Path(args.runs), [], {"none": 0, "umap": 0}, 0
    cache_path = runs / "choose_encoder.json"   # scores per (data, target, reduce, encoder, sample, pairs): reruns reuse
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    for data in args.data:
        targets = TARGETS[data]
        for target, k, label_of in targets:
            line, any_cand = [f"{data} {target} (k={k})"], False
            for reduce in ("none", "umap"):
                cands = {}
                for enc in args.encoders:
                    d = runs / data / enc
                    if not (d / "embeddings.npy").is_file():
                        continue
                    key = f"{data}/{target}/{reduce}/{enc}/{args.sample}/{args.pairs}"
                    if key not in cache:
                        paths = json.loads((d / "meta.json").read_text())["paths"]
                        cache[key] = evaluate(np.load(d / "embeddings.npy"), [label_of(p) for p in paths], k,
                                              reduce, args.sample, args.pairs)
                        cache_path.write_text(json.dumps(cache, indent=1))
                    cands[enc] = cache[key]
                    print(data, target, reduce, enc, cands[enc], flush=True)
                if not cands:
                    continue
                any_cand = True
                best = max(cands, key=lambda e: cands[e]["nmi"])
                pick = max(cands, key=lambda e: cands[e]["stability"])
                picked[reduce] += pick == best
                cost = cands[best]["nmi"] - cands[pick]["nmi"]
                line += [f"{best} {cands[best]['nmi']:.3f}",
                         f"{pick} {cands[pick]['nmi']:.3f}" + ("" if pick == best else f" (-{cost:.3f})"),
                         ", ".join(f"{e} {c['stability']:.2f}" for e, c in cands.items())]
            if any_cand:
                total += 1
                rows.append("| " + " | ".join(line) + " |")
    text = "\n".join([
        "## Choosing an encoder without labels", "",
        f"`python bench/choose_encoder.py` on bench/recipes.py's cached embeddings; {platform.machine()}, "
        f"{os.cpu_count()} cores. `encoder=auto` (tasks/choose.py, cluster/choose.py): each candidate's clusters are "
        f"redone from scratch on {args.pairs} pairs of random 80% subsamples of a {args.sample}-clip sample (the run's "
        "preprocess, reduce and k, new seeds); the pick has the highest mean ARI between the pairs (stability). "
        "Labels then say which candidate's clusters of every clip were best (NMI, seed 0) and what the pick cost. "
        f"**Picked the best: {picked['none']}/{total} with k-means alone, {picked['umap']}/{total} with "
        "`reduce.method=umap`.**", "",
        "| target | best, k-means (NMI) | pick (NMI) | stability | best, UMAP + k-means (NMI) | pick (NMI) | stability |",
        "|---|---|---|---|---|---|---|", *rows, ""])
    print(text)
    write_section("Choosing an encoder without labels", text, args.out)


if __name__ == "__main__":
    main()
