"""Combining encoders: each pretrained encoder alone, their concatenation (encoder=mix as it is) and their consensus
(cluster.method=consensus), on every labelled set here, over 5 seeds.

    python bench/combine.py                # every set in SETS: drums, sfx, FSDD (1,500 files), synthetic, ..., megaglest
    python bench/combine.py --data drums --seeds 0 1
    python bench/combine.py --reuse        # only what --cache does not hold yet (new sets, new recipes)

Each set is embedded once per encoder by the public API (audioclust.embed, the folder defaults; sfx: each file one
row) and cached under --cache (<set>/<encoder>.npy and .json). Then, for each seed, through audioclust.cluster with
the defaults (preprocess l2, UMAP, k-means; k = the number of classes): each encoder alone; the concatenation of
aisfx + BirdNET and of all four, each member weighing the same (encoder=mix's dim_weights); their consensus with
consensus.keep=0.85 (the default) and keep=0 (every member votes, each with its silhouette); the concatenation of
the members that consensus (keep=0.85) kept with the same seed (a member dropped when its silhouette says it only adds
noise: the label-free vote of the consensus, for the concatenation); and the classic
baseline, MFCC (20) mean and std over each whole file. kits, instruments and percussion: one-shot sets from Debian's
SoundFonts (python bench/sf2_data.py kits|instruments|percussion); wesnoth: a second set of game sound effects
(python bench/wesnoth_data.py); zeroad: everyday and natural sounds (python bench/zeroad_data.py, each
file one row); megaglest: a third game's sounds, animals and ambience among them (python bench/megaglest_data.py, each
file one row). Labels only score.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from assign import data_args, nmi
from assign import held_out as held_out_rows
from common import machine, mean_std, write_section
from sets import DRUMS, FSDD, INSTRUMENTS, KITS, MEGAGLEST, PERCUSSION, SFX, WESNOTH, ZEROAD, synthetic_root

MEMBERS = ("aisfx", "birdnet", "speech", "speaker")
SETS = {   # folder, labels, files (None: all), windowing
    "drums": (DRUMS, {"source": "parent"}, None, None),
    "sfx": (SFX, {"source": "parent"}, None, {"pool_windows_up_to": 180}),
    "fsdd": (FSDD, {"source": "regex", "pattern": r"^(\d)_"}, 1500, None),
    "synthetic": (None, {"source": "parent"}, None, None),
    "kits": (KITS, {"source": "parent"}, None, None),                 # python bench/sf2_data.py kits
    "instruments": (INSTRUMENTS, {"source": "parent"}, None, None),   # python bench/sf2_data.py instruments
    "percussion": (PERCUSSION, {"source": "parent"}, None, None),     # python bench/sf2_data.py percussion
    "wesnoth": (WESNOTH, {"source": "parent"}, None, None),           # python bench/wesnoth_data.py
    "zeroad": (ZEROAD, {"source": "parent"}, None, {"pool_windows_up_to": 180}),   # python bench/zeroad_data.py
    "megaglest": (MEGAGLEST, {"source": "parent"}, None, {"pool_windows_up_to": 180}),   # python bench/megaglest_data.py
}
BASELINES = ("MFCC statistics",)   # rows that are neither an encoder nor a combination of them
MFCC_SR = 22050   # the classic baseline: MFCC (20) mean and std of each whole file (bench/baselines.py mfcc_stats)


def embedded(name: str, encoder: str, cache: Path) -> tuple[np.ndarray, list[str], list[str], float]:
    """(vectors, paths, labels, embedding seconds) of one set and encoder, embedded once and cached."""
    import audioclust

    out = cache / name
    if not (out / f"{encoder}.npy").is_file():
        root, labels, files, windowing = SETS[name]
        t = time.time()
        emb = audioclust.embed(str(root or synthetic_root()), encoder=encoder, labels=labels, max_files=files,
                               windowing=windowing, store=str(cache / "store"))
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / f"{encoder}.npy", emb.vectors)
        (out / f"{encoder}.json").write_text(json.dumps({"path": list(emb.path), "label": list(emb.label),
                                                         "seconds": time.time() - t}))
    rows = json.loads((out / f"{encoder}.json").read_text())
    return np.load(out / f"{encoder}.npy"), rows["path"], rows["label"], rows["seconds"]


def mfcc(name: str, paths: list[str], cache: Path) -> np.ndarray:
    """The classic baseline of each row's file (cached): MFCC (20) mean and std over the whole file."""
    from baselines import mfcc_stats

    from audioclust.data.audio import load

    out = cache / name / "mfcc.npy"
    if not out.is_file():
        np.save(out, mfcc_stats([load(p, MFCC_SR) for p in paths], MFCC_SR))
    return np.load(out)


def side_by_side(xs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The members' embeddings concatenated, with encoder=mix's column weights and groups."""
    from audioclust.embed.encoders.mix import side_by_side as columns

    weights, groups = columns(x.shape[1] for x in xs)
    return np.concatenate(xs, 1), weights, groups


def measure(name: str, cache: Path, seeds, before: dict | None = None) -> dict:
    """Every recipe over the seeds; before: a cached result whose recipes are kept (only the others are run)."""
    import audioclust

    xs, paths, labels = {}, None, None
    for m in MEMBERS:
        x, p, lab, sec = embedded(name, m, cache)
        assert paths is None or p == paths, f"{name}: {m}'s rows differ"
        xs[m], paths, labels = x, p, lab
    y = np.unique(labels, return_inverse=True)[1]
    k = int(y.max()) + 1
    out: dict = {"rows": len(y), "k": k, "recipes": {}, "seconds": {}, "kept": []}

    def run(recipe, fit):
        if before and recipe in before["recipes"]:
            for key in ("recipes", "seconds"):
                out[key][recipe] = before[key][recipe]
            out["kept"] = before["kept"]
            return
        for seed in seeds:
            t = time.perf_counter()
            got = fit(seed)
            out["seconds"].setdefault(recipe, []).append(time.perf_counter() - t)
            out["recipes"].setdefault(recipe, []).append(nmi(y, got.labels_))
            members = getattr(got.clusterer.content.method, "members_", None)
            if members and recipe == "consensus, all four":
                out["kept"].append([MEMBERS[d["member"]] for d in members if d["kept"]])
            print(name, recipe, seed, round(out["recipes"][recipe][-1], 3), flush=True)

    for m in MEMBERS:
        run(m, lambda s, m=m: audioclust.cluster(xs[m], k=k, seed=s))
    classic = mfcc(name, paths, cache)
    run("MFCC statistics", lambda s: audioclust.cluster(classic, k=k, seed=s))
    for tag, names in (("aisfx + birdnet", ("aisfx", "birdnet")), ("all four", MEMBERS)):
        x, w, g = side_by_side([xs[m] for m in names])
        run(f"concatenated, {tag}", lambda s, x=x, w=w: audioclust.cluster(x, k=k, seed=s, weights=w))
        run(f"consensus, {tag}", lambda s, x=x, w=w, g=g: audioclust.cluster(x, method="consensus", k=k, seed=s, weights=w, groups=g))
    x, w, g = side_by_side([xs[m] for m in MEMBERS])

    def kept_side_by_side(seed):   # the members the consensus of four kept with this seed (its silhouette rule)
        kept, kept_w, _ = side_by_side([xs[m] for m in out["kept"][list(seeds).index(seed)]])
        return audioclust.cluster(kept, k=k, seed=seed, weights=kept_w)
    if len(out["kept"]) == len(seeds):
        run("concatenated, the members the consensus keeps", kept_side_by_side)
    run("consensus, all four, keep=0", lambda s: audioclust.cluster(x, method="consensus", k=k, seed=s, weights=w, groups=g, keep=0.0))
    return out


def held_out(name: str, cache: Path, seeds) -> dict:
    """consensus, all four: fitted on the rows of a seeded 80% of the files, the other 20% assigned (Clusters.assign,
    as mode=assign: by the nearest fitted row), NMI of the fitted rows and of the assigned ones; the assigned rows
    placed in the kept members' columns (now) and in every member's (before: the whole mix's preprocessing)."""
    import audioclust
    from audioclust.cluster.kmeans import Preprocess
    from audioclust.cluster.neighbours import Neighbours

    xs = {m: embedded(name, m, cache) for m in MEMBERS}
    paths, labels = xs[MEMBERS[0]][1], xs[MEMBERS[0]][2]
    y, files = np.unique(labels, return_inverse=True)[1], np.unique(paths, return_inverse=True)[1]
    x, w, g = side_by_side([xs[m][0] for m in MEMBERS])
    out: dict = {"fit": [], "kept": [], "every": []}
    for seed in seeds:
        held = held_out_rows(files, seed)
        part = audioclust.cluster(x[~held], method="consensus", k=int(y.max()) + 1, seed=seed, weights=w, groups=g)
        every = Preprocess("l2").fit(x[~held], w)
        state = {**part.state(), "mean": every.mean, "scale": every.scale,
                 "neighbour_rows": Neighbours.fitted(every(x[~held]), part.labels_).rows}
        out["fit"].append(nmi(y[~held], part.labels_))
        out["kept"].append(nmi(y[held], part.assign(x[held])[0]))
        out["every"].append(nmi(y[held], audioclust.Clusters.from_state(state).assign(x[held])[0]))
        print(name, "held out", seed, {k: round(v[-1], 3) for k, v in out.items()}, flush=True)
    return out


def held_out_table(results: dict, args) -> str:
    lines = [f"## {args.section}", "", f"`python bench/combine.py --assign --data {' '.join(args.data)} --seeds "
             f"{' '.join(map(str, args.seeds))}`; {machine()}.", "", " ".join(held_out.__doc__.split()) + " Embeddings as in \"Combining encoders\" (cached); mean ± std over the seeds.", "",
             "| set | fitted rows | held out: kept members' columns | held out: every member's (before) | kept − every |",
             "|---|---|---|---|---|"]
    for s, r in results.items():
        lines.append(f"| {s} | {mean_std(r['fit'])} | {mean_std(r['kept'])} | {mean_std(r['every'])} | "
                     f"{np.mean(r['kept']) - np.mean(r['every']):+.3f} |")
    return "\n".join(lines) + "\n"


def table(results: dict, args) -> str:
    sets = list(results)
    recipes = list(next(iter(results.values()))["recipes"])
    head = "| recipe | " + " | ".join(f"{s} ({results[s]['rows']} rows, k={results[s]['k']})" for s in sets) + " |"
    kept = f" ({', '.join(args.kept)}: every figure from --cache, measured by an earlier run, same seeds)" if args.kept else ""
    lines = [f"## {args.section}", "", f"`python bench/combine.py{' --reuse' * args.reuse} --data {' '.join(args.data)} --seeds "
             f"{' '.join(map(str, args.seeds))}`{kept}; {machine()}.",
             "", "NMI, mean ± std over the seeds (UMAP + k-means, k = the classes; a consensus seed s clusters each member "
             "with seeds 5s ... 5s + 4). Best single encoder in bold; the last rows: each combined recipe minus the best "
             "single encoder on that set.", "", head, "|---|" + "---|" * len(sets)]
    for r in recipes:
        cells = []
        for s in sets:
            v = results[s]["recipes"][r]
            best = max(MEMBERS, key=lambda m: np.mean(results[s]["recipes"][m]))
            cells.append(f"**{mean_std(v)}**" if r == best else mean_std(v))
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    combined = [r for r in recipes if r not in MEMBERS and r not in BASELINES]
    # each combined recipe minus the best single encoder, per set
    gap = {r: [np.mean(results[s]["recipes"][r]) - max(np.mean(results[s]["recipes"][m]) for m in MEMBERS) for s in sets]
           for r in combined}
    for r in combined:
        lines.append(f"| {r} − best single | " + " | ".join(f"{d:+.3f}" for d in gap[r]) + " |")
    lines += ["", "Seconds per fit (mean over seeds; embeddings cached): " + "; ".join(
        f"{s}: " + ", ".join(f"{r} {np.mean(t):.1f}" for r, t in results[s]["seconds"].items() if r.startswith("consensus") or r in ("aisfx",))
        for s, t0 in results.items() for t in [t0]), "",
        "Members kept by `consensus.keep=0.85` (consensus, all four; per seed): " + "; ".join(
        f"{s}: " + ", ".join(sorted({"+".join(k) for k in results[s]["kept"]})) for s in sets)]
    worst = {r: min(d) for r, d in gap.items()}
    holds = [r for r, w in worst.items() if w >= -0.01]
    others = ", ".join(f"{r} {w:+.3f}" for r, w in worst.items() if r not in holds)
    lines += ["", "Within 0.01 of the best single encoder on every set: " + (", ".join(holds) or "none")
              + (f"; the others' worst set: {others}" if others else "") + ".",
              "", f"Mean over the {len(sets)} sets of each combined recipe minus the best single encoder: "
              + ", ".join(f"{r} {np.mean(d):+.3f}" for r, d in gap.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = data_args(__doc__, "embeddings: <set>/<encoder>.npy (reused)")
    ap.set_defaults(cache="/tmp/combine")
    ap.add_argument("--reuse", action="store_true", help="a set's figures from --cache when measured (same seeds)")
    ap.add_argument("--section", default="Combining encoders")
    for action in ap._actions:
        if action.dest == "data":
            action.choices, action.default = list(SETS), list(SETS)
    ap.add_argument("--assign", action="store_true", help="only the consensus fit's assignment of held-out files")
    args = ap.parse_args()
    cache, results = Path(args.cache), {}
    if args.assign:
        results = {name: held_out(name, cache, args.seeds) for name in args.data}
        args.section = "Assignment after a consensus" if args.section == "Combining encoders" else args.section
        write_section(args.section, held_out_table(results, args), args.out)
        return
    args.kept = []   # sets whose every figure came from --cache (--reuse)
    for name in args.data:
        done = cache / f"{name}-combine.json"
        before = json.loads(done.read_text()) if args.reuse and done.is_file() else None
        results[name] = measure(name, cache, args.seeds, before)
        if before and set(before["recipes"]) >= set(results[name]["recipes"]):
            args.kept.append(name)
        done.write_text(json.dumps(results[name]))
    text = table(results, args)
    print(text)
    write_section(args.section, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
