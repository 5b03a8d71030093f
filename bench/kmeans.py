"""FAISS k-means (audioclust's fit_kmeans + streamed assign) versus scikit-learn KMeans, same points.

    taskset -c 1 python bench/kmeans.py [--n 100000] [--k 256] [--stds 4 8 12] [--seeds 0 1 2] [--threads 1]
Structures side by side: 64-d points of scikit-learn make_blobs(n, centers=300, cluster_std=s) for each s (4:
blobs well apart, the initialisation decides; 12: heavy overlap, Lloyd converges slowly and the iterations
decide), plus `uniform` (300 unit-variance blobs with centres uniform in [-1, 1]^64), clustered into k=256. For
each structure and seed (the data's and both methods' seed), sklearn and every FAISS variant run one after the
other; wall and CPU time (train + assign every point) as ratios to sklearn's over the seeds, inertia over all
points against sklearn's, the mean over the seeds. Then peak memory of the 1M-point run from a memory-mapped .npy
in a fresh process, and of the cluster path (preprocess=standard, k-means with the 100k settings, assign:
pipeline.Stage.fit) on 1M x 1,536 float32 rows (5.7 GiB, generated in chunks into a .npy under --tmp and
memory-mapped), with --baseline DIR also on an older checkout of the code (e.g. `git worktree add /tmp/before
<commit>`), side by side. Writes the sections 'k-means' and 'Memory of k-means' of BENCHMARKS.md (--speed-only,
--memory-only: one of them).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, PeakAnon, machine, peak_rss_mb, write_section

if "--blas-child" in sys.argv:   # FAISS's OpenBLAS with the kernels named there (its own detection: "auto")
    core = sys.argv[sys.argv.index("--blas-child") + 1]
    os.environ["OPENBLAS_CORETYPE"] = "" if core == "auto" else core   # set: kmeans.py leaves it alone
from audioclust.cluster.kmeans import assign, fit_kmeans  # noqa: E402  (before faiss: it picks FAISS's kernels)

# the 100k+ settings of docs/scale.md (kmeans.*), measured here; batch: kmeans.batch_points_per_centroid
LARGE = dict(mppc=256, init="greedy", nredo=1, niter=20, refine=1, trials=16, relax=1.3, batch=64)
FORMER = dict(mppc=128, init="greedy", nredo=1, niter=10, refine=1, trials=16, relax=1.5, batch=None)
LARGE_LABEL = ("**greedy k-means++, sample 256/centroid, 20 over-relaxed it. (relax=1.3) each on a fresh batch of "
               "64/centroid, + 1 full Lloyd step (the 100k settings)**")
# (label, fit_kmeans settings); mppc=None: every point. trials: greedy's candidates per step (None: 2 + ln k)
VARIANTS = [(LARGE_LABEL, LARGE),
            ("greedy k-means++, sample 128/centroid, 10 over-relaxed it. (relax=1.5), + 1 full Lloyd step (the "
             "former 100k settings)", FORMER),
            ("the 100k settings, every iteration on the whole sample (no batches)", dict(LARGE, batch=None)),
            ("the 100k settings, plain iterations (relax=1)", dict(LARGE, relax=1.0)),
            ("the 100k settings, 16 iterations", dict(LARGE, niter=16)),
            ("the 100k settings, 2 full Lloyd steps (refine=2)", dict(LARGE, refine=2)),
            ("the 100k settings, sample 128/centroid (the former sample)", dict(LARGE, mppc=128)),
            ("FAISS k-means++ init (FAISS's), sample 256/centroid, 20 it.",
             dict(mppc=256, init="kmeans++", nredo=1, niter=20, refine=0, trials=None, relax=1.0, batch=None))]


def blobs(n: int, k: int, seed: int = 0, kind: str = "uniform", d: int = 64) -> np.ndarray:
    """kind 'std=<s>': make_blobs(n, d, centers=k, cluster_std=s) (centres uniform in [-10, 10]^d). 'uniform': k
    unit-variance blobs with centres uniform in [-1, 1]^d, like embeddings without structure."""
    if kind.startswith("std="):
        from sklearn.datasets import make_blobs

        return make_blobs(n, d, centers=k, cluster_std=float(kind[4:]), random_state=seed)[0].astype(np.float32)
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-1, 1, (k, d)).astype(np.float32)
    x = centers[rng.integers(0, k, n)]
    x += rng.standard_normal(x.shape, dtype=np.float32)
    return x


def inertia(x, centroids) -> float:
    _, d = assign(x, centroids, gpu=False)
    return float((d.astype(np.float64) ** 2).sum())


def fit(x, k, v: dict, seed: int = 0):
    """fit_kmeans with a VARIANTS entry."""
    return fit_kmeans(x, k, niter=v["niter"], nredo=v["nredo"], init=v["init"], gpu=False, refine=v["refine"],
                      max_points_per_centroid=v["mppc"] or len(x) // k + 1, n_local_trials=v["trials"],
                      relax=v["relax"], batch_points_per_centroid=v["batch"], seed=seed)


def run_faiss(x, k, v: dict, threads: int, seed: int = 0) -> tuple[float, float, float]:
    """(wall s, CPU s of this process, inertia)."""
    from threadpoolctl import threadpool_limits

    t, c = time.perf_counter(), time.process_time()
    with threadpool_limits(threads):  # numpy's BLAS (greedy seeding), as sklearn's
        cen = fit(x, k, v, seed)
        assign(x, cen, gpu=False)
    return time.perf_counter() - t, time.process_time() - c, inertia(x, cen)


def run_sklearn(x, k, threads, max_iter=20, tol=0.0, seed=0) -> tuple[float, float, float, int]:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    t, c = time.perf_counter(), time.process_time()
    with threadpool_limits(threads):
        km = KMeans(k, init="k-means++", n_init=1, max_iter=max_iter, tol=tol, random_state=seed).fit(x)
        km.predict(x)
    return (time.perf_counter() - t, time.process_time() - c, inertia(x, km.cluster_centers_.astype(np.float32)),
            int(km.n_iter_))


def memory_child(path: str, k: int, niter: int, mppc: int, init: str) -> dict:
    """In a fresh process: k-means on a memory-mapped file, peak RSS and peak anonymous (heap) memory."""
    anon = PeakAnon()
    base = peak_rss_mb()  # the interpreter with numpy, torch (imported by the bench helpers) and FAISS loaded
    x = np.load(path, mmap_mode="r")
    t = time.perf_counter()
    cen = fit_kmeans(x, k, niter=niter, max_points_per_centroid=mppc, init=init, gpu=False, refine=1,
                     n_local_trials=LARGE["trials"], relax=LARGE["relax"], batch_points_per_centroid=LARGE["batch"])
    labels, _ = assign(x, cen)
    wall = time.perf_counter() - t
    anon.done.set()
    return {"n": len(x), "wall_s": wall, "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base, "peak_anon_mb": anon.mb,
            "file_mb": Path(path).stat().st_size / 2 ** 20, "clusters_used": int(len(np.unique(labels)))}


def wide_file(path: str, n: int, d: int, k: int, seed: int = 0, chunk: int = 65536) -> None:
    """The overlapping set in d dims, n rows, written to a .npy a chunk at a time (never all in RAM), each
    dimension with its own offset and spread (so that the z-score matters)."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-1, 1, (k, d)).astype(np.float32)
    offset, spread = rng.uniform(-5, 5, d).astype(np.float32), rng.uniform(0.2, 5, d).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, chunk):
        rows = centers[rng.integers(0, k, min(chunk, n - s))]
        rows += rng.standard_normal(rows.shape, dtype=np.float32)
        out[s:s + len(rows)] = rows * spread + offset
    out.flush()
    del out


def stage_child(path: str, k: int, labels_path: str, baseline: str | None) -> dict:
    """In a fresh process: the cluster path (pipeline.Stage: preprocess=standard, k-means with the 100k settings,
    assign every row) on a memory-mapped file; baseline: the code of that checkout instead of this one."""
    if baseline:
        for name in [m for m in sys.modules if m.split(".")[0] == "audioclust"]:
            del sys.modules[name]
        sys.path.insert(0, baseline)
    from audioclust.cluster import pipeline

    anon, base = PeakAnon(), peak_rss_mb()
    x = np.load(path, mmap_mode="r")
    km = dict(init=LARGE["init"], nredo=LARGE["nredo"], max_points_per_centroid=LARGE["mppc"], niter=LARGE["niter"],
              relax=LARGE["relax"], refine=LARGE["refine"])
    from audioclust.cluster import kmeans
    if "batch_points_per_centroid" in inspect.signature(kmeans.fit_kmeans).parameters:   # a --baseline may predate it
        km["batch_points_per_centroid"] = LARGE["batch"]
    try:   # the method as an object (audioclust/cluster/methods.py); a --baseline from before it: a dict of options
        from audioclust.cluster.methods import KMeans
        stage = pipeline.Stage("standard", None, KMeans(seed=0, gpu=False, **km), seed=0)
    except ImportError:
        stage = pipeline.Stage("standard", None, km, seed=0, gpu=False)
    t = time.perf_counter()
    labels, _, z = stage.fit(x, k)
    wall = time.perf_counter() - t
    anon.done.set()
    np.save(labels_path, labels)
    return {"n": len(x), "d": x.shape[1], "wall_s": wall, "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base,
            "peak_anon_mb": anon.mb, "file_mb": Path(path).stat().st_size / 2 ** 20, "z_mb": z.nbytes / 2 ** 20,
            "code": str(Path(pipeline.__file__).parents[2])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000, help="points of each structure in the speed section")
    ap.add_argument("--k", type=int, default=256, help="clusters in the speed section")
    ap.add_argument("--centers", type=int, default=300, help="blobs of each structure")
    ap.add_argument("--stds", type=float, nargs="+", default=[4.0, 8.0, 12.0], help="make_blobs cluster_std values")
    ap.add_argument("--no-uniform", action="store_true", help="leave out the uniform-centres structure")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="data and method seeds (mean over them)")
    ap.add_argument("--threads", type=int, default=1, help="threads of FAISS (OpenMP) and of sklearn (threadpoolctl)")
    ap.add_argument("--memory-n", type=int, default=1_000_000, help="points of the 64-d memory run")
    ap.add_argument("--memory-k", type=int, default=300, help="clusters of the memory runs")
    ap.add_argument("--speed-only", action="store_true", help="only the speed section")
    ap.add_argument("--memory-only", action="store_true", help="only the peak-memory section")
    ap.add_argument("--wide", type=int, nargs=2, default=[1_000_000, 1536], metavar=("N", "D"),
                    help="rows and dims of the cluster-path memory run (0 0: skip it)")
    ap.add_argument("--baseline", help="a checkout of older code: the cluster-path memory run on it too, side by side")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the memory runs' .npy files go (GiB)")
    ap.add_argument("--out", help="write the speed section to this file instead of BENCHMARKS.md")
    ap.add_argument("--section", default="k-means", help="the speed section's title (e.g. 'Large k-means' for "
                    "--n 1000000; a title starting with 'k-means' would be replaced by the default run's)")
    ap.add_argument("--blas", nargs="*", default=["auto"], help="also the 100k settings (former and new) in a fresh "
                    "process with FAISS's OpenBLAS on these kernels (auto: its own detection), beside sklearn's times")
    ap.add_argument("--blas-child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--stage-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    if args.stage_child:
        print(json.dumps(stage_child(args.stage_child[0], args.memory_k, args.stage_child[1],
                                     args.stage_child[2] or None)))
        return
    if args.blas_child:
        _, kind, seed = args.blas_child
        x = blobs(args.n, args.centers, int(seed), kind)
        print(json.dumps({"blas": faiss_blas(), "runs": [run_faiss(x, args.k, v, args.threads, int(seed))
                                                         for v in (LARGE, FORMER)]}))
        return
    if args.child:
        print(json.dumps(memory_child(args.child[0], args.memory_k, LARGE["niter"], int(args.child[1]),
                                      args.child[2])))
        return
    if not args.memory_only:
        speed(args)
    if not args.speed_only:
        memory(args)


def faiss_blas() -> str:
    """The kernels of FAISS's own OpenBLAS (threadpoolctl), e.g. SkylakeX; Prescott is its SSE3 fallback."""
    from threadpoolctl import threadpool_info

    found = [i.get("architecture") for i in threadpool_info()
             if i.get("internal_api") == "openblas" and "faiss" in i.get("filepath", "")]
    return found[0] if found else "unknown (no OpenBLAS of FAISS's own)"


def speed(args) -> None:
    kinds = [f"std={s:g}" for s in args.stds] + ([] if args.no_uniform else ["uniform"])
    runs = {kind: {m: [] for m in ["sk"] + [label for label, _ in VARIANTS]} for kind in kinds}
    for kind in kinds:
        for seed in args.seeds:   # one after the other for each seed, so that a change of load hits every method
            x = blobs(args.n, args.centers, seed, kind)
            runs[kind]["sk"].append(run_sklearn(x, args.k, args.threads, seed=seed)[:3])
            for label, v in VARIANTS:
                runs[kind][label].append(run_faiss(x, args.k, v, args.threads, seed))
            for core in args.blas:
                r = child("--n", str(args.n), "--k", str(args.k), "--centers", str(args.centers), "--threads",
                          str(args.threads), "--blas-child", core, kind, str(seed))
                for what, run in zip(("the 100k settings", "the former 100k settings"), r["runs"]):
                    how = "its own detection" if core == "auto" else f"OPENBLAS_CORETYPE={core}"
                    runs[kind].setdefault(f"{what}, FAISS's OpenBLAS on its {r['blas']} kernels ({how})", []).append(run)
            print(kind, seed, {m[:40]: [round(r, 3) for r in rs[-1]] for m, rs in runs[kind].items()}, flush=True)
            del x
    pinned = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    names = {kind: (f"cluster_std={kind[4:]}" if kind != "uniform" else "uniform centres") for kind in kinds}
    lines = [f"## {args.section} ({args.n:,} points, 64-d, {args.centers} blobs, k={args.k}; {machine()})", "",
             f"`taskset -c 1 python {' '.join(sys.argv)}` (this process pinned to CPU core(s) {pinned}). "
             f"Structures: scikit-learn make_blobs(n, 64, centers={args.centers}, cluster_std=s) (centres uniform in "
             "[-10, 10]^64; s=4: blobs apart, the initialisation decides; s=12: heavy overlap, Lloyd converges "
             f"slowly and the iterations decide) and `uniform centres` ({args.centers} unit-variance blobs, centres "
             f"uniform in [-1, 1]^64), k={args.k}. For each structure and seed {args.seeds} (the data's, sklearn's "
             "random_state and FAISS's seed) sklearn and every FAISS variant run one after the other in this "
             "process. Reference: scikit-learn KMeans(init='k-means++' (greedy, 2 + ln k trials), n_init=1, "
             f"max_iter=20, tol=0). sklearn (BLAS and OpenMP, threadpoolctl), numpy (greedy seeding) and FAISS "
             f"(faiss.omp_set_num_threads) all with {args.threads} thread(s); FAISS's own OpenBLAS ran its "
             f"{faiss_blas()} kernels (kmeans.py sets OPENBLAS_CORETYPE before FAISS loads: faiss_backend.py "
             "openblas_coretype). Time = train + assign every point. Each cell: **speed-up in wall time / in CPU time "
             "of the process** (sum of sklearn's seconds over the seeds / the method's) **/ inertia vs sklearn** "
             "(sum of squared distances of every point to its nearest centroid, relative to sklearn's on the same "
             "points, mean over the seeds; the worst seed in brackets).", ""]
    head = "| method | " + " | ".join(names[k] for k in kinds) + " |"
    lines += [head, "|---" * (len(kinds) + 1) + "|"]
    sk = {kind: np.array(runs[kind]["sk"]) for kind in kinds}
    lines.append("| scikit-learn KMeans, max_iter=20 (reference): wall / CPU seconds, mean over the seeds | " +
                 " | ".join(f"{sk[k][:, 0].mean():.2f} s / {sk[k][:, 1].mean():.2f} s" for k in kinds) + " |")
    cells, verdicts = {}, []
    for label in [m for m in runs[kinds[0]] if m != "sk"]:
        row = []
        for kind in kinds:
            r = np.array(runs[kind][label])
            wall, cpu = sk[kind][:, 0].sum() / r[:, 0].sum(), sk[kind][:, 1].sum() / r[:, 1].sum()
            rel = 100 * (r[:, 2] / sk[kind][:, 2] - 1)
            cells[label, kind] = (wall, cpu, rel.mean(), rel.max())
            row.append(f"{wall:.1f}x / {cpu:.1f}x / {rel.mean():+.2f}% ({rel.max():+.2f}%)")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    for label, what in ((LARGE_LABEL, "the 100k settings"), (VARIANTS[1][0], "the former 100k settings")):
        parts = []
        for kind in kinds:
            wall, cpu, rel, worst = cells[label, kind]
            ok = min(wall, cpu) >= 10 and rel <= 1
            parts.append(f"{names[kind]} {wall:.1f}x (CPU {cpu:.1f}x) at {rel:+.2f}% ({'meets' if ok else 'misses'})")
        verdicts.append(f"- {what}: " + "; ".join(parts) + " (target: >= 10x in wall and in CPU time, the mean "
                        "inertia at most 1% above sklearn's).")
    lines += ["", *verdicts, "",
              "On blobs apart (cluster_std=4) the initialisation decides, and greedy k-means++ (each step keeps the "
              "best of 16 D^2-sampled candidates) seeded on 16 rows per centroid of the sample gets there. On "
              "overlapping blobs (cluster_std=12) Lloyd converges slowly (sklearn needs its 20 full iterations) and "
              "the sample decides: iterations on one fixed sample of 128 rows per centroid fit that sample's noise, "
              "which the one full Lloyd step (kmeans.refine) does not undo (the former settings' row). With "
              "kmeans.batch_points_per_centroid=64 each iteration draws a fresh batch of 64 rows per centroid from "
              "the sample of 256: an iteration costs a quarter of one on the whole sample, and with fresh rows every "
              "iteration there is no one sample's noise to fit, so 20 cheap iterations (each moving a centroid 1.3x "
              "the way to its batch mean, the last plain) and one full step end near sklearn's inertia for about the "
              "former settings' time (the rows without batches, with plain iterations, with fewer iterations or the "
              "former sample show what each part gives)."]
    write_section(args.section, "\n".join(lines) + "\n", args.out)
    print("\n".join(lines))


def child(*argv: str) -> dict:
    """This script in a fresh process (its own peak RSS): the last line it prints, as JSON."""
    p = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"the memory run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def memory(args) -> None:
    n = args.memory_n
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = f"{tmp}/x.npy"
        np.save(path, blobs(n, args.memory_k))
        m = child("--memory-k", str(args.memory_k), "--threads", str(args.threads), "--child", path, str(LARGE["mppc"]),
                  LARGE["init"])
    text = [f"## Memory of k-means ({machine()})", "",
            f"{m['n']:,} points (overlapping set) memory-mapped from a {m['file_mb']:.0f} MiB .npy in a fresh process, "
            f"k={args.memory_k}, the 100k settings (greedy k-means++, sample {LARGE['mppc']}/centroid, {LARGE['niter']} "
            f"iterations with relax={LARGE['relax']:g} on batches of {LARGE['batch']}/centroid, 1 full Lloyd step), train + "
            f"assignment streamed in batches of 65,536: {m['wall_s']:.1f} s.", "",
            "| measure | MiB |", "|---|---|",
            f"| peak RSS before loading the points (interpreter, numpy, torch, FAISS) | {m['base_rss_mb']:.0f} |",
            f"| peak RSS | {m['peak_rss_mb']:.0f} |",
            f"| peak heap (RssAnon, polled every 20 ms) | {m['peak_anon_mb']:.0f} |",
            f"| the points' file (memory-mapped; its pages count in RSS but the kernel can drop them) "
            f"| {m['file_mb']:.0f} |", ""]
    if all(args.wide):
        text += wide_memory(args)
    write_section("Memory of k-means", "\n".join(text))
    print("\n".join(text))


def commit(root: str) -> str:
    """The commit checked out at root, short."""
    p = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"commit {p.stdout.strip()}" if p.returncode == 0 else root


def wide_memory(args) -> list[str]:
    """The cluster path on n x d float32 rows memory-mapped, this code (and --baseline's), in fresh processes."""
    n, d = args.wide
    runs = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = f"{tmp}/wide.npy"
        wide_file(path, n, d, args.memory_k)
        for name, code in ([("before", args.baseline)] if args.baseline else []) + [("this code", "")]:
            runs[name] = child("--memory-k", str(args.memory_k), "--threads", str(args.threads), "--stage-child", path,
                               f"{tmp}/labels-{len(runs)}.npy", code)
            runs[name]["labels"] = np.load(f"{tmp}/labels-{len(runs) - 1}.npy")
            print(name, {k: v for k, v in runs[name].items() if k != "labels"}, flush=True)
    m = runs["this code"]
    lines = [f"The cluster path at {m['n']:,} x {m['d']:,} float32 rows ({m['file_mb'] / 1024:.1f} GiB .npy, "
             f"memory-mapped; overlapping set with per-dimension offsets and spreads): `pipeline.Stage.fit` with "
             f"preprocess=standard, k={args.memory_k}, the 100k settings, assignment of every row, in a fresh process "
             f"(FAISS {args.threads} thread(s), on CPU). The preprocessed rows (z, {m['z_mb'] / 1024:.1f} GiB) are the "
             "run's output (the scores, plots and map use them): the file's pages + z is the floor. Wall: the whole "
             "fit on the shared machine, whose load changed between the runs: not a speed comparison.", "",
             "| code | peak RSS MiB | peak heap (RssAnon) MiB | wall (s) |", "|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name}{' (' + commit(r['code']) + ')' if r['code'] != str(ROOT) else ''} | {r['peak_rss_mb']:,.0f} | "
                     f"{r['peak_anon_mb']:,.0f} | {r['wall_s']:.0f} |")
    if args.baseline:
        b = runs["before"]
        lines += ["", f"Peak RSS {m['peak_rss_mb'] / b['peak_rss_mb']:.2f}x, heap {m['peak_anon_mb'] / b['peak_anon_mb']:.2f}x "
                  f"of before; the same cluster for {100 * np.mean(m['labels'] == b['labels']):.2f}% of the rows "
                  "(the mean and spread are now summed in float64, before in float32)."]
    return lines + [""]


if __name__ == "__main__":
    main()
