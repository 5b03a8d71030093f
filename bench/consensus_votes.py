"""How the members of a consensus should vote: label-free weights for each encoder's clusterings (issue 26, goal 2:
a member weighted by a label-free signal of its own quality, or dropped when it only adds noise), on bench/combine.py's
cached embeddings of every set.

    python bench/combine.py && python bench/consensus_votes.py

For each set and seed s, the consensus of all four encoders is fitted as audioclust.cluster fits it (conf defaults:
each member's columns through preprocess, UMAP and k-means, 5 runs with seeds 5s ... 5s + 4) and each member's
clusterings are kept. Then every rule below weighs the same clusterings (a weight of 0 drops a member) and the
clusters are cut from their weighted co-association as cluster.method=consensus cuts them (average linkage, k).
Labels only score: NMI of each rule's clusters minus the best member's (the mean NMI of that member's own
clusterings, 5 per seed, each a single-encoder run of the recipe), mean over the seeds ± the std of the rule's NMI
over them; mean and worst: over the sets.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from combine import MEMBERS, SETS, embedded, side_by_side
from common import machine, write_section
from sklearn.metrics import normalized_mutual_info_score as nmi

RULES = {   # rule -> its weights (4,) from the members' silhouettes, stabilities, agreements and the default consensus's
    "silhouette, members under 0.85 x the best's dropped (the default)": lambda f: np.where(f["sil"] >= 0.85 * f["sil"].max(), f["sil"], 0.0),
    "silhouette, every member (consensus.keep=0)": lambda f: f["sil"],
    "every member alike": lambda f: np.ones(4),
    "stability (mean NMI between a member's own runs)": lambda f: f["stab"],
    "agreement with the other members (mean NMI)": lambda f: f["agree"],
    "agreement with the default consensus, under 0.9 x the best's dropped": lambda f: np.where(f["tc"] >= 0.9 * f["tc"].max(), f["tc"], 0.0),
    "the member of the highest silhouette alone": lambda f: (f["sil"] == f["sil"].max()).astype(float),
    "the highest silhouette's member and those agreeing with it (NMI >= 0.8 x its own runs')": lambda f: f["near"],
}


def members_of(x, w, g, k: int, seed: int):
    """The consensus of the members (audioclust.cluster, the defaults) and each member's clusterings in it."""
    import audioclust
    from audioclust.cluster import consensus

    seen, real = [], consensus.member_labelings

    def recorded(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    consensus.member_labelings = recorded
    try:
        fit = audioclust.cluster(x, method="consensus", k=k, seed=seed, weights=w, groups=g)
    finally:
        consensus.member_labelings = real
    return fit.labels_, seen[0]


def features(labels, members) -> dict:
    """The label-free signals of each member: silhouette, stability, agreement with the others and with `labels`."""
    runs = [members.labelings[:, members.owner == m] for m in range(len(MEMBERS))]
    r = runs[0].shape[1]
    stab = np.array([np.mean([nmi(a[:, i], a[:, j]) for i, j in itertools.combinations(range(r), 2)]) for a in runs])
    pair = np.array([[np.mean([nmi(a[:, i], b[:, i]) for i in range(r)]) for b in runs] for a in runs])
    sil = np.array([-np.inf if v is None else v for v in members.silhouette], float)   # None: undefined
    top = int(np.argmax(sil))
    return {"sil": sil, "stab": stab,
            "agree": np.array([np.mean(np.delete(pair[m], m)) for m in range(len(runs))]),
            "tc": np.array([np.mean([nmi(labels, a[:, i]) for i in range(r)]) for a in runs]),
            "near": np.array([1.0 if m == top or pair[top, m] >= 0.8 * stab[top] else 0.0 for m in range(len(runs))])}


def measure(name: str, cache: Path, seeds) -> dict:
    from audioclust.cluster.consensus import average_linkage, coassociation

    xs = {m: embedded(name, m, cache) for m in MEMBERS}
    y = np.unique(xs[MEMBERS[0]][2], return_inverse=True)[1]
    k = int(y.max()) + 1
    x, w, g = side_by_side([xs[m][0] for m in MEMBERS])
    scores, single = {rule: [] for rule in RULES}, [[] for _ in MEMBERS]
    for seed in seeds:
        labels, members = members_of(x, w, g, k, seed)
        f = features(labels, members)
        for m in range(len(MEMBERS)):
            single[m] += [nmi(y, c) for c in members.labelings[:, members.owner == m].T]
        for rule, weigh in RULES.items():
            v = weigh(f)[members.owner]
            scores[rule].append(nmi(y, average_linkage(coassociation(members.labelings[:, v > 0], v[v > 0]), k)))
        print(name, seed, {r[:24]: round(s[-1], 3) for r, s in scores.items()}, flush=True)
    best = max(float(np.mean(s)) for s in single)
    return {"rows": len(y), "k": k, "best": best, "best_member": MEMBERS[int(np.argmax([np.mean(s) for s in single]))],
            "rules": {r: float(np.mean(s)) - best for r, s in scores.items()},
            "spread": {r: float(np.std(s)) for r, s in scores.items()}}


def table(results: dict, args) -> str:
    names = list(results)
    lines = ["## Consensus: how the members vote", "",
             f"`python bench/consensus_votes.py --data {' '.join(names)} --seeds {' '.join(map(str, args.seeds))}` on "
             f"bench/combine.py's cached embeddings; {machine()}.", "", " ".join(__doc__.split("\n\n", 2)[2].split()), "",
             "| rule | " + " | ".join(f"{n} ({results[n]['rows']} rows, k={results[n]['k']})" for n in names) + " | mean | worst |",
             "|---" * (len(names) + 3) + "|"]
    for rule in RULES:
        d = [results[n]["rules"][rule] for n in names]
        cells = [f"{v:+.3f} ± {results[n]['spread'][rule]:.3f}" for v, n in zip(d, names)]
        lines.append(f"| {rule} | " + " | ".join(cells) + f" | {np.mean(d):+.3f} | {min(d):+.3f} |")
    lines.append("| best member (NMI) | " + " | ".join(f"{results[n]['best_member']} {results[n]['best']:.3f}" for n in names) + " | | |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--cache", default="/tmp/combine", help="bench/combine.py's --cache")
    ap.add_argument("--out", default=None, help="write the section here instead of BENCHMARKS.md")
    args = ap.parse_args()
    results = {name: measure(name, Path(args.cache), args.seeds) for name in args.data}
    text = table(results, args)
    print(text)
    write_section("Consensus: how the members vote", text, args.out)


if __name__ == "__main__":
    sys.exit(main())
