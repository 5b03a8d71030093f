"""Choosing an encoder without labels: how often encoder=auto picks the best encoder, and what it costs.

    python bench/choose_encoder.py [--runs logs/bench/recipes]     # needs bench/recipes.py's cached embeddings
    python bench/choose_encoder.py --combine-cache /tmp/combine --combinations   # bench/combine.py's, and the mixes

For every data set and target, every cached pretrained encoder (bench/recipes.py: aisfx, birdnet, speech,
speaker) is scored as encoder=auto scores it (stability of its clusters on subsample pairs of a sample,
audioclust/cluster/choose.py), with k-means alone and after UMAP; the highest is "picked". Labels then say which
candidate was really best (NMI) and what the pick cost. An earlier version of this bench measured silhouette as
the criterion: it picked the best 0/4 times (it rewards whatever grouping is cleanest, e.g. speakers when k=10
words are asked for). Results go into BENCHMARKS.md, section "Choosing an encoder without labels".
--combine-cache: the embeddings bench/combine.py cached (<set>/<encoder>.npy, the folder defaults) instead;
--combinations: two more candidates, all four encoders side by side (encoder=mix's weights) and their consensus
(cluster.method=consensus), scored the same way (issue 26, goal 5: encoder=auto over the combinations too).
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
    "kits": [("class", 9, lambda p: Path(p).parent.name)],          # bench/sf2_data.py
    "instruments": [("class", 10, lambda p: Path(p).parent.name)],  # bench/sf2_data.py
}
MIXES = ("side by side", "consensus")   # --combinations: of every encoder the set has
ENCODERS = registry.pretrained()   # conf/encoder/auto.yaml's default candidates


def evaluate(x: np.ndarray, labels: list[str], k: int, reduce: str, sample: int, pairs: int, **options) -> dict:
    """One candidate, as encoder=auto sees it (tasks/choose.py): stability of its clusters on a seeded sample of
    `sample` clips, and, with labels, the NMI of the run's clusters of every clip (seed 0). options: more of
    audioclust.cluster's (a mix's weights and groups, method=consensus)."""
    from sklearn.metrics import normalized_mutual_info_score

    import audioclust
    from audioclust.cluster.choose import stability

    def fit(rows: np.ndarray, seed: int) -> np.ndarray:   # cluster.py's clustering (conf/cluster.yaml defaults)
        return audioclust.cluster(rows, k=k, reduce=reduce, seed=seed, gpu=False, **options).labels_

    rows = np.arange(len(x))
    if len(x) > sample:
        rows = np.sort(np.random.default_rng(0).choice(len(x), sample, replace=False))
    t = time.perf_counter()
    st = stability(x[rows], fit, pairs=pairs, seed=0)
    seconds = time.perf_counter() - t
    clusters = fit(x, 0)
    return {"nmi": float(normalized_mutual_info_score(labels, clusters)), "stability": st.score,
            "stability_seconds": seconds}


def embedded(runs: Path, data: str, enc: str, combine: bool) -> tuple[np.ndarray, list[str]] | None:
    """(embeddings, each row's path) cached by bench/recipes.py (<runs>/<data>/<enc>/) or, combine, bench/combine.py
    (<runs>/<data>/<enc>.npy and .json); None where not cached."""
    if combine:
        if not (runs / data / f"{enc}.npy").is_file():
            return None
        return np.load(runs / data / f"{enc}.npy"), json.loads((runs / data / f"{enc}.json").read_text())["path"]
    d = runs / data / enc
    if not (d / "embeddings.npy").is_file():
        return None
    return np.load(d / "embeddings.npy"), json.loads((d / "meta.json").read_text())["paths"]


def candidate(name: str, arrays: dict) -> tuple[np.ndarray, dict]:
    """A candidate's embeddings and audioclust.cluster options: an encoder's own, or (MIXES) all of them side by
    side with encoder=mix's column weights (bench/combine.py side_by_side), clustered as they are or by their
    consensus."""
    from combine import side_by_side

    if name not in MIXES:
        return arrays[name], {}
    x, weights, groups = side_by_side(list(arrays.values()))
    return x, {"weights": weights, **({"method": "consensus", "groups": groups} if name == "consensus" else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "recipes"))
    ap.add_argument("--sample", type=int, default=1000, help="encoder.sample of conf/encoder/auto.yaml")
    ap.add_argument("--pairs", type=int, default=2, help="encoder.pairs of conf/encoder/auto.yaml")
    ap.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    ap.add_argument("--data", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    ap.add_argument("--combine-cache", default=None, help="bench/combine.py's embeddings instead of bench/recipes.py's")
    ap.add_argument("--combinations", action="store_true", help="also the encoders side by side and their consensus")
    args = ap.parse_args()
    runs, rows, picked, total = Path(args.combine_cache or args.runs), [], {"none": 0, "umap": 0}, 0
    within = {"none": 0, "umap": 0}   # picks within 0.01 NMI of the best
    singles = {"none": 0, "umap": 0}  # the same, the encoders alone as candidates
    cache_path = runs / "choose_encoder.json"   # scores per (data, target, reduce, encoder, sample, pairs): reruns reuse
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    for data in args.data:
        targets = TARGETS[data]
        for target, k, label_of in targets:
            line, any_cand = [f"{data} {target} (k={k})"], False
            for reduce in ("none", "umap"):
                cands, arrays, paths = {}, {}, None
                for enc in args.encoders:
                    got = embedded(runs, data, enc, bool(args.combine_cache))
                    if got is not None:
                        arrays[enc], paths = got
                names = list(arrays) + (list(MIXES) if args.combinations and len(arrays) > 1 else [])
                for enc in names:
                    key = f"{data}/{target}/{reduce}/{enc}/{args.sample}/{args.pairs}"
                    if key not in cache:
                        x, options = candidate(enc, arrays)
                        cache[key] = evaluate(x, [label_of(p) for p in paths], k, reduce, args.sample, args.pairs, **options)
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
                within[reduce] += cost <= 0.01
                single = {e: c for e, c in cands.items() if e not in MIXES}   # encoder=auto as it is: the encoders alone
                alone = max(single, key=lambda e: single[e]["stability"])
                singles[reduce] += max(c["nmi"] for c in single.values()) - single[alone]["nmi"] <= 0.01
                line += [f"{best} {cands[best]['nmi']:.3f}",
                         f"{pick} {cands[pick]['nmi']:.3f}" + ("" if pick == best else f" (-{cost:.3f})"),
                         ", ".join(f"{e} {c['stability']:.2f}" for e, c in cands.items())]
            if any_cand:
                total += 1
                rows.append("| " + " | ".join(line) + " |")
    text = "\n".join([
        "## Choosing an encoder without labels", "",
        (f"`python bench/choose_encoder.py --combine-cache {args.combine_cache}{' --combinations' * args.combinations}` on "
         "bench/combine.py's cached embeddings (the folder defaults)" if args.combine_cache else
         "`python bench/choose_encoder.py` on bench/recipes.py's cached embeddings") + f"; {platform.machine()}, "
        f"{os.cpu_count()} cores. `encoder=auto` (tasks/choose.py, cluster/choose.py): each candidate's clusters are "
        f"redone from scratch on {args.pairs} pairs of random 80% subsamples of a {args.sample}-clip sample (the run's "
        "preprocess, reduce and k, new seeds); the pick has the highest mean ARI between the pairs (stability). "
        "Labels then say which candidate's clusters of every clip were best (NMI, seed 0) and what the pick cost. "
        f"**Picked the best: {picked['none']}/{total} with k-means alone, {picked['umap']}/{total} with "
        f"`reduce.method=umap`; within 0.01 NMI of the best: {within['none']}/{total} and {within['umap']}/{total}.**"
        + (" Candidates: each encoder, and all of them side by side and their consensus (--combinations); with the "
           f"encoders alone (encoder=auto as it is) the pick is within 0.01 NMI of the best encoder {singles['none']}/{total} "
           f"and {singles['umap']}/{total} times." if args.combinations else ""),
        "",
        "| target | best, k-means (NMI) | pick (NMI) | stability | best, UMAP + k-means (NMI) | pick (NMI) | stability |",
        "|---|---|---|---|---|---|---|", *rows, ""])
    print(text)
    write_section("Choosing an encoder without labels", text, args.out)


if __name__ == "__main__":
    main()
