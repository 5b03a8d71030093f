"""From clusters to a labelled set (issue 25, goal 3): how many clips must a user name before the linear probe
(audioclust/curate/probe.py, what audioclust-curate runs) labels the whole set, against naming each cluster by its
majority.

    python bench/curation.py                    # drums, sfx, FSDD (1,500 files); embeddings from bench/assign.py's cache
    python bench/curation.py --data drums --seeds 0 1

A simulated user (the true labels stand for what they hear), per set and seed: the default clusters (UMAP +
k-means, k = the number of classes, audioclust.cluster); then names the most typical clip of each cluster (nearest
its centroid), and then, round after round, the k clips the probe is least sure of (review_next.csv's margin
sampling), each named with its true label. After each round the labelled set is: the named clips with their names,
every other clip with the probe's most probable name. Its accuracy at 1, 2, 5 and 10 named clips per class (k, 2k,
5k, 10k clips), and the clips listened to until it reaches 90% (or "not within 200"); against: each cluster named by
its majority true label (every clip of it listened to), and the probe trained on the same number of clips drawn at
random (no clustering, no review).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from assign import DATASETS, data_args, embedded
from common import machine, mean_std, write_section

PER_CLASS = (1, 2, 5, 10)
BUDGET = 200
PROBES = {"l2, C=1": ("l2", 1.0), "l2, C=10": ("l2", 10.0), "standard, C=1": ("standard", 1.0)}
DEFAULT = "l2, C=1"


def features(x: np.ndarray, kind: str) -> np.ndarray:
    from audioclust.cluster.kmeans import Preprocess

    return Preprocess(kind).fit(x)(np.array(x, np.float32))


def accuracy(labels: np.ndarray, named: dict[int, str], probe) -> float:
    got = np.asarray(probe.predicted if probe is not None else np.full(len(labels), ""), dtype=object).copy()
    for i, v in named.items():
        got[i] = v
    return float((got == labels).mean())


def majority(labels: np.ndarray, clusters: np.ndarray) -> float:
    right = 0
    for c in np.unique(clusters):
        vals, counts = np.unique(labels[clusters == c], return_counts=True)
        right += counts.max()
    return float(right / len(labels))


def loop(f: np.ndarray, labels: np.ndarray, first: list[int], k: int, seed: int, c: float) -> dict:
    """Name `first`, then k least sure clips per round: accuracy after each round (by clips named)."""
    from audioclust.curate.probe import fit_probe

    named = {int(i): labels[i] for i in first}
    curve, reached = {}, None
    while True:
        names = [named.get(i, "") for i in range(len(labels))]
        probe = fit_probe(f, names, seed, c)
        acc = accuracy(labels, named, probe)
        curve[len(named)] = acc
        if reached is None and acc >= 0.9:
            reached = len(named)
        if len(named) >= max(BUDGET, PER_CLASS[-1] * k) or (reached and len(named) >= PER_CLASS[-1] * k):
            return {"curve": curve, "reached": reached}
        if probe is None:   # one name so far: the next most typical clips would be chosen by a user; take random ones
            more = np.random.default_rng(seed).permutation([i for i in range(len(labels)) if i not in named])[:k]
        else:
            more = probe.review_next(k, np.asarray([bool(v) for v in names]))
        named.update({int(i): labels[i] for i in more})


def at(curve: dict, n: int) -> float:
    """Accuracy when n clips were named (the last round at or below n)."""
    return curve[max(m for m in curve if m <= n)]


def measure(name: str, x, labels, seeds) -> dict:
    import audioclust

    k = DATASETS[name][3]
    out: dict = {"rows": len(x), "k": k, "majority": [], "random": {p: [] for p in PER_CLASS},
                 **{probe: {"curve": {p: [] for p in PER_CLASS}, "reached": []} for probe in PROBES}}
    feats = {kind: features(x, kind) for kind, _ in PROBES.values()}
    for seed in seeds:
        clusters = audioclust.cluster(x, k=k, seed=seed)
        out["majority"].append(majority(labels, clusters.labels_))
        first = [int(np.flatnonzero(clusters.labels_ == c)[np.argmin(clusters.distances_[clusters.labels_ == c])])
                 for c in np.unique(clusters.labels_[clusters.labels_ >= 0])]
        for probe, (kind, c) in PROBES.items():
            r = loop(feats[kind], labels, first, k, seed, c)
            for p in PER_CLASS:
                out[probe]["curve"][p].append(at(r["curve"], p * k))
            out[probe]["reached"].append(r["reached"])
        from audioclust.curate.probe import fit_probe

        for p in PER_CLASS:   # the same number of clips at random: what clustering and review add
            pick = np.random.default_rng(seed).permutation(len(x))[:p * k]
            named = {int(i): labels[i] for i in pick}
            probe = fit_probe(feats["l2"], [named.get(i, "") for i in range(len(x))], seed)
            out["random"][p].append(accuracy(labels, named, probe))
        print(name, seed, {"majority": out["majority"][-1], **{pr: [out[pr]["curve"][p][-1] for p in PER_CLASS] for pr in PROBES}},
              flush=True)
    return out


def _reached(v) -> str:
    hit = [r for r in v if r is not None]
    if not hit:
        return f"not within {BUDGET}"
    return f"{np.mean(hit):.0f}" + (f" ({len(hit)} of {len(v)} seeds; the others not within {BUDGET})" if len(hit) < len(v) else "")


def table(results: dict, args) -> str:
    lines = ["## From clusters to a labelled set", "",
             f"`python bench/curation.py --data {' '.join(args.data)} --seeds {' '.join(map(str, args.seeds))}`; {machine()}. "
             "Embeddings: bench/assign.py's (the README recipe's encoder per set, `audioclust.embed`). A simulated user (the true "
             "labels stand for what they hear): the default clusters (UMAP + k-means, k = the classes); the most typical clip "
             "of each cluster named, then, round after round, the k clips the probe is least sure of (review_next.csv's margin "
             "sampling). The labelled set: named clips with their names, the rest with the probe's name (audioclust/curate/"
             "probe.py: logistic regression, balanced classes, on the clusters' preprocessed embeddings). Accuracy of that set at "
             "1, 2, 5 and 10 named clips per class; clips named until 90%; against each cluster named by its majority true label "
             f"(every clip of it heard) and the probe on the same number of clips drawn at random. Mean ± std over seeds {list(args.seeds)}.", "",
             "| set | rows | majority naming | probe | 1 per class | 2 per class | 5 per class | 10 per class | clips named for 90% |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for probe in PROBES:
            q = r[probe]
            cells = " | ".join(mean_std(q["curve"][str(p)] if str(p) in q["curve"] else q["curve"][p]) for p in PER_CLASS)
            lines.append(f"| {name} | {r['rows']} | {mean_std(r['majority'])} | {probe}{' (default)' if probe == DEFAULT else ''}, "
                         f"typical then review | {cells} | {_reached(q['reached'])} |")
        cells = " | ".join(mean_std(r["random"][str(p)] if str(p) in r["random"] else r["random"][p]) for p in PER_CLASS)
        lines.append(f"| {name} | {r['rows']} | | {DEFAULT}, random clips | {cells} | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = data_args(__doc__, "bench/assign.py's embeddings (made there when missing)").parse_args()
    results = {}
    for name in args.data:
        x, labels, _ = embedded(name, Path(args.cache))
        results[name] = measure(name, x, np.asarray(labels, dtype=object), args.seeds)
        (Path(args.cache) / f"{name}-curation.json").write_text(json.dumps(results[name]))
    write_section("From clusters to a labelled set", table(results, args), args.out)


if __name__ == "__main__":
    main()
