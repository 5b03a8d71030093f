"""Choosing an encoder without labels: how often encoder=auto picks the best encoder, and what it costs.

    python bench/choose_encoder.py [--runs logs/bench/recipes]     # needs bench/recipes.py's cached embeddings
    python bench/choose_encoder.py --combine-cache /tmp/combine --combinations   # bench/combine.py's, and the mixes

For every data set and target, every cached pretrained encoder (bench/recipes.py: aisfx, birdnet, speech,
speaker) is scored as encoder=auto scores it in a run with each seed (stability of its clusters on subsample pairs of
a sample, audioclust/cluster/choose.py, with conf/encoder/auto.yaml's reducer, pairs and sample); the highest is
"picked". Labels then say which candidate was really best (mean NMI over the seeds, in runs with k-means alone and
with UMAP) and what each run's pick cost. --judge run: each candidate judged with the run's own reducer instead
(as encoder=auto did before 2026-12-07). An earlier version of this bench measured silhouette as
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
    "percussion": [("class", 9, lambda p: Path(p).parent.name)],    # bench/sf2_data.py
    "wesnoth": [("class", 7, lambda p: Path(p).parent.name)],       # bench/wesnoth_data.py
    "zeroad": [("class", 9, lambda p: Path(p).parent.name)],        # bench/zeroad_data.py
    "megaglest": [("class", 8, lambda p: Path(p).parent.name)],     # bench/megaglest_data.py
}
REDUCES = ("none", "umap")   # the run's reducer: k-means alone, UMAP + k-means (the default)
MIXES = ("side by side", "consensus")   # --combinations: of every encoder the set has
ENCODERS = registry.pretrained()   # conf/encoder/auto.yaml's default candidates


def auto_defaults() -> dict:
    """conf/encoder/auto.yaml's sample, pairs and reduce: encoder=auto's settings, read where they are set."""
    node = registry.node("auto")
    return {key: node[key] for key in ("sample", "pairs", "reduce")}


def stability_of(x: np.ndarray, k: int, judge: str, sample: int, pairs: int, seed: int, **options) -> float:
    """A candidate's stability as encoder=auto scores it (tasks/choose.py) in a run with this seed: its clusters,
    with the reducer `judge`, on pairs of subsamples of a seeded sample of `sample` clips. options: more of
    audioclust.cluster's (a mix's weights and groups, method=consensus)."""
    import audioclust
    from audioclust.cluster.choose import stability

    rows = np.arange(len(x))
    if len(x) > sample:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))
    return stability(x[rows], lambda r, s: audioclust.cluster(r, k=k, reduce=judge, seed=s, gpu=False, **options).labels_,
                     pairs=pairs, seed=seed).score


def nmi_of(x: np.ndarray, labels: list[str], k: int, reduce: str, seed: int, **options) -> float:
    """NMI of the run's clusters of every clip (cluster.py's clustering, conf/cluster.yaml defaults) with this seed."""
    from sklearn.metrics import normalized_mutual_info_score

    import audioclust

    return float(normalized_mutual_info_score(labels, audioclust.cluster(x, k=k, reduce=reduce, seed=seed, gpu=False, **options).labels_))


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
    auto = auto_defaults()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=str(ROOT / "logs" / "bench" / "recipes"))
    ap.add_argument("--sample", type=int, default=auto["sample"], help="encoder.sample (conf/encoder/auto.yaml)")
    ap.add_argument("--pairs", type=int, default=auto["pairs"], help="encoder.pairs (conf/encoder/auto.yaml)")
    ap.add_argument("--judge", default=auto["reduce"] or "run", help="encoder.reduce (conf/encoder/auto.yaml): the "
                    "reducer the candidates are judged with; run: the run's own (none or umap, per column)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="a run's seed: its pick and its NMI")
    ap.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    ap.add_argument("--data", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    ap.add_argument("--section", default="Choosing an encoder without labels")
    ap.add_argument("--combine-cache", default=None, help="bench/combine.py's embeddings instead of bench/recipes.py's")
    ap.add_argument("--combinations", action="store_true", help="also the encoders side by side and their consensus")
    args = ap.parse_args()
    runs, rows = Path(args.combine_cache or args.runs), []
    within = {(r, alone): 0 for r in REDUCES for alone in (False, True)}   # runs whose pick is within 0.01 NMI of the best
    total = 0
    cache_path = runs / "choose_encoder.json"   # every score by its settings: reruns reuse them
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}

    def cached(key: str, compute) -> float:
        if key not in cache:
            cache[key] = compute()
            cache_path.write_text(json.dumps(cache, indent=1))
        return cache[key]

    for data in args.data:
        arrays, paths = {}, None
        for enc in args.encoders:
            got = embedded(runs, data, enc, bool(args.combine_cache))
            if got is not None:
                arrays[enc], paths = got
        names = list(arrays) + (list(MIXES) if args.combinations and len(arrays) > 1 else [])
        for target, k, label_of in TARGETS[data] if arrays else []:
            labels, line = [label_of(p) for p in paths], [f"{data} {target} (k={k})"]
            nmi, stab = {r: {} for r in REDUCES}, {}
            for enc in names:
                x, options = candidate(enc, arrays)
                for reduce in REDUCES:
                    nmi[reduce][enc] = float(np.mean([cached(f"{data}/{target}/nmi/{reduce}/{enc}/{s}",
                                                             lambda: nmi_of(x, labels, k, reduce, s, **options)) for s in args.seeds]))
                for judge in ({args.judge} if args.judge != "run" else set(REDUCES)):
                    stab[judge, enc] = [cached(f"{data}/{target}/stability/{judge}/{enc}/{args.sample}/{args.pairs}/{s}",
                                               lambda: stability_of(x, k, judge, args.sample, args.pairs, s, **options)) for s in args.seeds]
                print(data, target, enc, {r: round(nmi[r][enc], 3) for r in REDUCES}, flush=True)
            total += len(args.seeds)
            for reduce in REDUCES:
                judge = reduce if args.judge == "run" else args.judge
                best = max(nmi[reduce], key=nmi[reduce].get)
                for alone in (False, True):   # alone: encoder=auto with the encoders as its only candidates
                    cands = [e for e in names if not (alone and e in MIXES)]
                    picks = [max(cands, key=lambda e: stab[judge, e][i]) for i in range(len(args.seeds))]
                    top = max(nmi[reduce][e] for e in cands)
                    costs = [top - nmi[reduce][p] for p in picks]
                    within[reduce, alone] += sum(c <= 0.01 for c in costs)
                    if not alone:
                        line += [f"{best} {nmi[reduce][best]:.3f}", f"{_counts(picks)}: {sum(c <= 0.01 for c in costs)}/"
                                 f"{len(costs)} within 0.01, mean cost {np.mean(costs):.3f}"]
            judges = [args.judge] if args.judge != "run" else list(REDUCES)
            line += ["; ".join(", ".join(f"{e} {np.mean(stab[j, e]):.2f}" for e in names) for j in judges)]
            rows.append("| " + " | ".join(line) + " |")
    how = "the run's reducer" if args.judge == "run" else f"reduce.method={args.judge}"
    text = "\n".join([
        f"## {args.section}", "",
        (f"`python bench/choose_encoder.py --combine-cache {args.combine_cache}{' --combinations' * args.combinations}` on "
         "bench/combine.py's cached embeddings (the folder defaults)" if args.combine_cache else
         "`python bench/choose_encoder.py` on bench/recipes.py's cached embeddings") + f"; {platform.machine()}, "
        f"{os.cpu_count()} cores. `encoder=auto` (tasks/choose.py, cluster/choose.py) as a run with seed s scores each "
        f"candidate: its clusters are redone from scratch, with {how} and the run's preprocess and k, on {args.pairs} "
        f"pairs of random 80% subsamples of a seeded {args.sample}-clip sample (new seeds); the pick has the highest "
        f"mean ARI between the pairs (stability). Seeds {', '.join(map(str, args.seeds))}: each a run's pick. Labels then "
        "say which candidate's clusters of every clip were best (NMI of the run's clustering, k-means alone or UMAP + "
        "k-means, mean over the seeds) and what each pick cost. **Runs whose pick is within 0.01 NMI of the best: "
        f"{within['none', False]}/{total} with k-means alone, {within['umap', False]}/{total} with `reduce.method=umap` "
        "(the default).**" + (
            " Candidates: each encoder, and all of them side by side and their consensus (--combinations); with the "
            f"encoders alone as candidates (encoder.combinations=false), {within['none', True]}/{total} and "
            f"{within['umap', True]}/{total} runs pick within 0.01 NMI of the best encoder." if args.combinations else ""),
        "",
        "| target | best, k-means (NMI) | picks, k-means | best, UMAP + k-means (NMI) | picks, UMAP + k-means | stability (mean over seeds) |",
        "|---|---|---|---|---|---|", *rows, ""])
    print(text)
    write_section(args.section, text, args.out)


def _counts(picks: list[str]) -> str:
    """'consensus x4, aisfx x1': how often each candidate was picked, most often first."""
    names, counts = np.unique(picks, return_counts=True)
    return ", ".join(f"{names[i]} x{counts[i]}" for i in np.argsort(-counts, kind="stable"))


if __name__ == "__main__":
    main()
