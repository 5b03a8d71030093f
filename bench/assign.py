"""Assignment after every recipe (mode=assign, Clusters.assign): new rows take the cluster of their nearest fitted
rows in the pre-reduction space (audioclust/cluster/neighbours.py), so UMAP and HDBSCAN fits take new audio.

    python bench/assign.py                        # drums, FSDD (1,500 files), sfx; embeddings cached in /tmp/assign-bench
    python bench/assign.py --data drums --seeds 0 1

Per data set, the README's recipe encoder embeds every file once through the public API (audioclust.embed;
cached under --cache), then, for each recipe (k-means + UMAP, HDBSCAN + UMAP) and seed, through audioclust.cluster:
(a) again: the fit's own rows assigned again keep their cluster (fraction); (b) held out: fitted on a seeded 80%
of the files, the other 20% assigned: NMI of the assigned rows beside that of the fitted rows (their difference);
for each number of neighbours voting (1: the nearest), and stored as float16 (the default) or float32.
Then umap against no reduction, k-means on every row (the question whether reduce.method=umap should be the default).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import ROOT, machine, mean_std, write_section

FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
DRUMS = Path.home() / ".cache" / "audioclust-data" / "drums"
SFX = Path.home() / ".cache" / "audioclust-data" / "sfx"
# data set -> folder, the README recipe's encoder for that sound, labels, k (its classes), files (None: all),
# windowing (sfx: each file one row, as bench/recipes.py reads it: cluster.py's fit_on=auto fits on one row per file)
DATASETS = {
    "drums": (DRUMS, "aisfx", {"source": "parent"}, 10, None, None),
    "sfx": (SFX, "aisfx", {"source": "parent"}, 10, None, {"pool_windows_up_to": 180}),
    "fsdd": (FSDD, "speech", {"source": "regex", "pattern": r"^(\d)_"}, 10, 1500, None),
}


def embedded(name: str, cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, labels, each row's file index) of a data set, embedded once by audioclust.embed and cached."""
    import audioclust

    out = cache / name
    if not (out / "vectors.npy").is_file():
        root, encoder, labels, _, files, windowing = DATASETS[name]
        t = time.time()
        emb = audioclust.embed(str(root), encoder=encoder, labels=labels, max_files=files, windowing=windowing)
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "vectors.npy", emb.vectors)
        (out / "rows.json").write_text(json.dumps({"path": list(emb.path), "label": list(emb.label),
                                                   "seconds": time.time() - t, "encoder": encoder}))
    rows = json.loads((out / "rows.json").read_text())
    return np.load(out / "vectors.npy"), np.asarray(rows["label"]), np.unique(rows["path"], return_inverse=True)[1]


RECIPES = {"k-means + umap": dict(reduce="umap"), "hdbscan + umap": dict(method="hdbscan", reduce="umap")}
VOTES = (1, 5, 15)   # neighbours that vote (audioclust/cluster/neighbours.py K)


def nmi(a, b) -> float:
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(a, b))   # noise (-1): one more label, as metrics.json's nmi


def held_out(files: np.ndarray, seed: int) -> np.ndarray:
    """Which rows are held out: those of a seeded 20% of the files (each row's file index in `files`)."""
    n = int(files.max()) + 1
    return np.isin(files, np.random.default_rng(seed).permutation(n)[: n // 5])


def fitted(x, options: dict, k: int, seed: int):
    import audioclust

    return audioclust.cluster(x, **options, k=None if options.get("method") == "hdbscan" else k, seed=seed)


def placed(clusters, x, votes: int, float32_rows=None) -> np.ndarray:
    """Labels of x as mode=assign puts them: the clusters read back from their state (no UMAP model: by the nearest
    fitted rows), `votes` of them voting; float32_rows: the fitted rows kept as float32 instead of float16."""
    import audioclust
    from audioclust.cluster.kmeans import Preprocess

    state = {**clusters.state(), "neighbour_k": np.array(votes)}
    if float32_rows is not None:
        state["neighbour_rows"] = Preprocess.from_state(state)(float32_rows)
    return audioclust.Clusters.from_state(state).assign(x)[0]


def measure(name: str, x, labels, files, seeds) -> dict:
    """(a) the fit's rows assigned again, (b) 20% of the files held out, per recipe, vote and seed; k-means on every
    row with and without UMAP."""
    k = DATASETS[name][3]
    out: dict = {"rows": len(x), "files": int(files.max()) + 1, "dim": x.shape[1]}
    for recipe, options in RECIPES.items():
        r = out[recipe] = {"again": {v: [] for v in VOTES}, "again32": [], "fit_nmi": [], "held_nmi": {v: [] for v in VOTES},
                           "held32": [], "in_session": [], "same_rows": [], "noise_fit": [], "noise_held": [], "bytes_per_row": 0,
                           "seconds": []}
        for seed in seeds:
            t = time.perf_counter()
            whole = fitted(x, options, k, seed)
            r["seconds"].append(time.perf_counter() - t)
            if recipe.startswith("k-means"):
                out.setdefault("umap", []).append(nmi(labels, whole.labels_))
            for v in VOTES:
                r["again"][v].append(float((placed(whole, x, v) == whole.labels_).mean()))
            r["again32"].append(float((placed(whole, x, 1, x) == whole.labels_).mean()))
            state = whole.state()
            r["bytes_per_row"] = sum(a.nbytes for key, a in state.items() if key.startswith("neighbour_")) / len(x)
            held = held_out(files, seed)
            part = fitted(x[~held], options, k, seed)
            r["fit_nmi"].append(nmi(labels[~held], part.labels_))
            r["same_rows"].append(nmi(labels[held], whole.labels_[held]))   # the held-out rows when fitted (all rows)
            for v in VOTES:
                r["held_nmi"][v].append(nmi(labels[held], placed(part, x[held], v)))
            r["held32"].append(nmi(labels[held], placed(part, x[held], 1, x[~held])))
            r["in_session"].append(float((part.assign(x[held])[0] == placed(part, x[held], 1)).mean()))
            r["noise_fit"].append(float((part.labels_ < 0).mean()))
            r["noise_held"].append(float((placed(part, x[held], 1) < 0).mean()))
            print(name, recipe, seed, {key: (val if not isinstance(val, dict) else {q: w[-1] for q, w in val.items()})
                                      for key, val in r.items() if key != "bytes_per_row"}, flush=True)
    for seed in seeds:
        out.setdefault("none", []).append(nmi(labels, fitted(x, {"reduce": "none"}, k, seed).labels_))
    return out


def data_args(doc: str, cache_help: str) -> argparse.ArgumentParser:
    """The options of the benches over these data sets' embeddings (this one and bench/curation.py)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--cache", default="/tmp/assign-bench", help=cache_help)
    ap.add_argument("--out", default=None, help="write the section to this file instead of BENCHMARKS.md")
    return ap


def main() -> None:
    ap = data_args(__doc__, "embeddings, one folder per data set (reused)")
    ap.add_argument("--embed-only", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="a data set's figures from --cache when measured (same seeds)")
    args = ap.parse_args()
    results = {}
    for name in args.data:
        x, labels, files = embedded(name, Path(args.cache))
        print(name, x.shape, len(set(labels)), flush=True)
        done = Path(args.cache) / f"{name}-results.json"
        if args.reuse and done.is_file():
            results[name] = json.loads(done.read_text())
        elif not args.embed_only:
            results[name] = measure(name, x, labels, files, args.seeds)
            done.write_text(json.dumps(results[name]))
    if not args.embed_only:
        write_section("Assignment after every recipe", table(results, args), args.out)


def table(results: dict, args) -> str:
    cache = Path(args.cache)
    lines = ["## Assignment after every recipe", "", f"`python bench/assign.py --data {' '.join(args.data)} --seeds {' '.join(map(str, args.seeds))}`; {machine()}. "
             "Each set embedded once through `audioclust.embed` with the README recipe's encoder, at `data=folder`'s "
             "defaults, then clustered through `audioclust.cluster` (conf/cluster.yaml defaults: preprocess l2, "
             "UMAP 10-d, 30 neighbours; HDBSCAN at its defaults) and assigned through `Clusters.from_state(state)."
             "assign` (what `mode=assign` does: no UMAP model, by the nearest fitted rows). Mean ± std over seeds "
             f"{list(args.seeds)} (UMAP's, k-means' and the held-out split's seed). **again**: share of the fit's rows "
             "that keep their cluster when assigned again; **held out**: fitted on the rows of a seeded 80% of the "
             "files, the other 20% assigned: NMI of the fitted rows, of the assigned rows (noise one more label, as "
             "metrics.json), and their difference, and the NMI of those same held-out rows in the fit on every row (the "
             "same number of rows: NMI over fewer rows reads higher); **same in session**: share of the held-out rows that "
             "`Clusters.assign` in the fitting session places where the clusters read back place them (one rule).", ""]
    for name, r in results.items():
        enc = json.loads((cache / name / "rows.json").read_text())["encoder"]
        files = f", {DATASETS[name][4]} files evenly spread (data.max_files)" if DATASETS[name][4] else ""
        lines.append(f"**{name}** (encoder={enc}, {r['rows']} rows of {r['dim']} dims from {r['files']} files{files}, "
                     f"k={DATASETS[name][3]} for k-means):")
        lines += ["", "| recipe | votes | again | fitted NMI | held-out NMI | difference | held-out rows when fitted (all rows) | "
                  "same in session | noise fit / held out |", "|---|---|---|---|---|---|---|---|---|"]
        for recipe in RECIPES:
            q = r[recipe]
            for v in VOTES:
                diff = np.array(q["held_nmi"][str(v)] if str(v) in q["held_nmi"] else q["held_nmi"][v]) - np.array(q["fit_nmi"])
                lines.append(f"| {recipe} | {v} | {mean_std(_get(q['again'], v))} | {mean_std(q['fit_nmi'])} | {mean_std(_get(q['held_nmi'], v))} | "
                             f"{mean_std(diff)} | {mean_std(q['same_rows'])} | {mean_std(q['in_session'])} | {np.mean(q['noise_fit']):.3f} / {np.mean(q['noise_held']):.3f} |")
            lines.append(f"| {recipe}, rows float32 | 1 | {mean_std(q['again32'])} | | {mean_std(q['held32'])} | "
                         f"{mean_std(np.array(q['held32']) - np.array(q['fit_nmi']))} | | | |")
        lines += ["", f"Kept for assign: {r[next(iter(RECIPES))]['bytes_per_row']:.0f} bytes per fitted row (float16 rows, "
                  "int64 label, 10 float32 UMAP coordinates). k-means on every row, NMI: "
                  f"umap {mean_std(r['umap'])}, none {mean_std(r['none'])}.", ""]
    lines.append("Decided: one voter, the nearest fitted row (audioclust/cluster/neighbours.py K = 1): it keeps every fitted row's "
                 "cluster, while 5 or 15 voters lose some of them and raise no held-out NMI by more than its spread; "
                 "rows kept as float16 (every figure equal to float32's).")
    return "\n".join(lines)


def _get(d: dict, v):
    return d[v] if v in d else d[str(v)]


if __name__ == "__main__":
    main()
