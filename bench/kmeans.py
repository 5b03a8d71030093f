"""FAISS k-means (audioclust's fit_kmeans + streamed assign) versus scikit-learn KMeans, same points.

    python bench/kmeans.py [--sizes 100000 1000000] [--k 300] [--threads 1] [--sklearn-full-sizes 100000]
Two sets of 64-d points: separated (scikit-learn make_blobs, k centres, cluster_std 4: real clusters, where the
initialisation decides) and overlapping (k unit-variance blobs with centres uniform in [-1, 1]^64: heavy overlap,
where the iterations decide). Wall time (train + assign every point) and final inertia over all points, as ratios
to sklearn's. Then peak memory of the 1M-point run from a memory-mapped .npy in a fresh process, and of the
cluster path (preprocess=standard, k-means with the 100k settings, assign: pipeline.Stage.fit) on 1M x 1,536
float32 rows (5.7 GiB, generated in chunks into a .npy under --tmp and memory-mapped), with --baseline DIR also
on an older checkout of the code (e.g. `git worktree add /tmp/before <commit>`), side by side.
Writes the sections 'k-means' and 'Memory of k-means' of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, PeakAnon, machine, peak_rss_mb, write_section

from audioclust.cluster.kmeans import assign, fit_kmeans

# the README's settings for 100k+ embeddings (kmeans.*), measured here
LARGE = dict(mppc=128, init="greedy", nredo=1, niter=10, refine=1, trials=16, relax=1.5)
FORMER = dict(LARGE, niter=16, trials=24, relax=1.0)   # the 100k settings before kmeans.relax
LARGE_LABEL = ("**greedy k-means++, 16 trials, sample 128/centroid, 10 over-relaxed it. (relax=1.5), + 1 full Lloyd "
               "step (the 100k settings)**")
# (label, fit_kmeans settings); mppc=None: every point. trials: greedy's candidates per step (None: 2 + ln k)
VARIANTS = [("FAISS random init, sample 128/centroid, 12 it., + 1 full Lloyd step (the first 100k settings)",
             dict(mppc=128, init="random", nredo=1, niter=12, refine=1, trials=None, relax=1.0)),
            ("FAISS k-means++ init (FAISS's), sample 256/centroid, 20 it.",
             dict(mppc=256, init="kmeans++", nredo=1, niter=20, refine=0, trials=None, relax=1.0)),
            ("greedy k-means++, 2 + ln k trials (sklearn's), sample 128/centroid, 16 it., + 1 full Lloyd step",
             dict(FORMER, trials=None)),
            ("greedy k-means++, 24 trials, sample 128/centroid, 16 it., + 1 full Lloyd step (the former 100k "
             "settings)", FORMER),
            (LARGE_LABEL, LARGE),
            ("greedy k-means++, 16 trials, sample 128/centroid, 10 plain it., + 1 full Lloyd step (no relax)",
             dict(LARGE, relax=1.0)),
            ("greedy k-means++, 16 trials, sample 128/centroid, 8 over-relaxed it. (relax=1.5), + 1 full Lloyd step",
             dict(LARGE, niter=8)),
            ("greedy k-means++, 24 trials, sample 128/centroid, 10 over-relaxed it. (relax=1.5), + 1 full Lloyd "
             "step", dict(LARGE, trials=24)),
            ("greedy k-means++, 24 trials, sample 256/centroid, 20 it., + 1 full Lloyd step",
             dict(FORMER, mppc=256, niter=20))]
KINDS = ("separated", "overlapping")


def blobs(n: int, k: int, seed: int = 0, kind: str = "overlapping") -> np.ndarray:
    """separated: make_blobs(n, 64, centers=k, cluster_std=4) (centres uniform in [-10, 10]^64: well apart, so
    a centroid missing from a blob, or two in one, stays; the initialisation decides). overlapping: k unit-variance
    blobs with centres uniform in [-1, 1]^64, like embeddings without structure (the iterations decide)."""
    if kind == "separated":
        from sklearn.datasets import make_blobs

        return make_blobs(n, 64, centers=k, cluster_std=4.0, random_state=seed)[0].astype(np.float32)
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-1, 1, (k, 64)).astype(np.float32)
    x = centers[rng.integers(0, k, n)]
    x += rng.standard_normal(x.shape, dtype=np.float32)
    return x


def inertia(x, centroids) -> float:
    _, d = assign(x, centroids, gpu=False)
    return float((d.astype(np.float64) ** 2).sum())


def run_faiss(x, k, v: dict, threads: int) -> tuple[float, float, float]:
    """(wall s, CPU s of this process, inertia)."""
    from threadpoolctl import threadpool_limits

    t, c = time.perf_counter(), time.process_time()
    with threadpool_limits(threads):  # numpy's BLAS (greedy seeding), as sklearn's
        cen = fit_kmeans(x, k, niter=v["niter"], nredo=v["nredo"], init=v["init"], gpu=False, refine=v["refine"],
                         max_points_per_centroid=v["mppc"] or len(x) // k + 1, n_local_trials=v["trials"],
                         relax=v["relax"])
        assign(x, cen, gpu=False)
    return time.perf_counter() - t, time.process_time() - c, inertia(x, cen)


def run_sklearn(x, k, threads, max_iter=20, tol=0.0) -> tuple[float, float, float, int]:
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    t, c = time.perf_counter(), time.process_time()
    with threadpool_limits(threads):
        km = KMeans(k, init="k-means++", n_init=1, max_iter=max_iter, tol=tol, random_state=0).fit(x)
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
                     n_local_trials=LARGE["trials"], relax=LARGE["relax"])
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
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--k", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1, help="threads of FAISS (OpenMP) and of sklearn (threadpoolctl)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per method up to 100k points (median time)")
    ap.add_argument("--sklearn-full-sizes", type=int, nargs="*", default=[100_000],
                    help="sizes at which sklearn also runs with its defaults (max_iter=300, tol=1e-4), once")
    ap.add_argument("--memory-only", action="store_true", help="only the peak-memory section")
    ap.add_argument("--wide", type=int, nargs=2, default=[1_000_000, 1536], metavar=("N", "D"),
                    help="rows and dims of the cluster-path memory run (0 0: skip it)")
    ap.add_argument("--baseline", help="a checkout of older code: the cluster-path memory run on it too, side by side")
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="where the memory runs' .npy files go (GiB)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--stage-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    if args.stage_child:
        print(json.dumps(stage_child(args.stage_child[0], args.k, args.stage_child[1], args.stage_child[2] or None)))
        return
    if args.child:
        print(json.dumps(memory_child(args.child[0], args.k, LARGE["niter"], int(args.child[1]), args.child[2])))
        return
    if not args.memory_only:
        speed(args)
    memory(args)


def speed(args) -> None:
    lines = [f"## k-means (64-d, k={args.k}; {machine()})", "",
             "Time = train + assign every point, median of "
             f"{args.repeats} runs up to 100k points, sklearn and FAISS runs interleaved (the machine is shared), "
             "1 run at 1M; inertia = sum of squared distances of every point to its nearest centroid, over all "
             "points for every method. Reference: scikit-learn KMeans(init='k-means++' (greedy, 2 + ln k trials), "
             "n_init=1, max_iter=20, tol=0, random_state=0). `sklearn defaults`: the same with max_iter=300, "
             "tol=1e-4 (run once). "
             f"FAISS (OpenMP), numpy and sklearn (BLAS, threadpoolctl) all with {args.threads} thread(s) (on this loaded 2-core machine 2 threads were "
             "slower for both). Greedy k-means++ seeds on 16 rows per centroid of the FAISS sample "
             "(audioclust's greedy_kmeanspp, on CPU), then FAISS trains from those centroids. Speed-up, CPU time: "
             "the same ratio in CPU seconds of the process (less sensitive to the machine's load).", "",
             "Sets: **separated** = make_blobs(n, 64, centers=k, cluster_std=4): real clusters, the initialisation "
             "decides (a blob left without a centroid stays so); **overlapping** = k unit-variance blobs with "
             "centres uniform in [-1, 1]^64: the iterations decide.", "",
             "| points | set | method | time (s) | speed-up vs sklearn | speed-up, CPU time | inertia vs sklearn | "
             "inertia vs sklearn defaults |", "|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for n in args.sizes:
        for kind in args.kinds:
            x = blobs(n, args.k, kind=kind)
            reps = args.repeats if n <= 100_000 else 1
            runs = {"sk": []} | {label: [] for label, _ in VARIANTS}
            for _ in range(reps):  # interleaved, so that a change of load hits every method alike
                runs["sk"].append(run_sklearn(x, args.k, args.threads)[:3])
                for label, v in VARIANTS:
                    runs[label].append(run_faiss(x, args.k, v, args.threads))
            # median wall and CPU seconds; inertia is deterministic for a seed
            med = {m: (float(np.median([r[0] for r in rs])), float(np.median([r[1] for r in rs])), rs[-1][2])
                   for m, rs in runs.items()}
            t_sk, c_sk, in_sk = med["sk"]
            full = None
            if n in args.sklearn_full_sizes:
                t_full, c_full, in_full, it_full = run_sklearn(x, args.k, args.threads, max_iter=300, tol=1e-4)
                full = in_full

            def rel(i, ref):
                return f"{100 * (i / ref - 1):+.2f}%" if ref else "-"

            lines.append(f"| {n:,} | {kind} | scikit-learn KMeans, max_iter=20 (reference) | {t_sk:.2f} | 1.0x | "
                         f"1.0x | +0.00% | {rel(in_sk, full)} |")
            if full:
                lines.append(f"| {n:,} | {kind} | scikit-learn KMeans defaults (max_iter=300, tol=1e-4: "
                             f"{it_full} it.) | {t_full:.2f} | {t_sk / t_full:.1f}x | {c_sk / c_full:.1f}x | "
                             f"{rel(in_full, in_sk)} | +0.00% |")
            print(*lines[-2:], sep="\n", flush=True)
            ok = []
            for label, _ in VARIANTS:
                t, c, i = med[label]
                lines.append(f"| {n:,} | {kind} | {label} | {t:.2f} | {t_sk / t:.1f}x | {c_sk / c:.1f}x | "
                             f"{rel(i, in_sk)} | {rel(i, full)} |")
                print(lines[-1], flush=True)
                if i / in_sk - 1 <= 0.01:
                    ok.append((t_sk / t, label.strip("*")))
            best = max(ok) if ok else None
            t_l, c_l, i_l = med[LARGE_LABEL]
            meets = t_sk / t_l >= 10 and i_l <= 1.01 * in_sk
            verdicts.append(f"- {n:,} points, {kind}: the 100k settings {t_sk / t_l:.2f}x (CPU time "
                            f"{c_sk / c_l:.2f}x) at {rel(i_l, in_sk)} ({'meet' if meets else 'miss'} >= 10x within "
                            "1%); " + (f"fastest at most 1% above sklearn's inertia: {best[1]}, {best[0]:.2f}x"
                                       if best else "no FAISS variant at most 1% above sklearn's inertia"))
            del x
    lines += ["", *verdicts, "", "On separated blobs the initialisation decides: random and FAISS's k-means++ "
              "starts leave blobs without a centroid (or put two in one) and no Lloyd iteration moves a centroid "
              "across the gap. Greedy k-means++ (each step keeps the best of several D^2-sampled candidates) seeds "
              "on a few thousand rows in a fraction of a second; more candidates per step than sklearn's 2 + ln k "
              "cost little on so few rows and are what gets below sklearn's inertia. On overlapping blobs the "
              "iterations decide and Lloyd converges slowly: the sample (128/centroid) keeps them cheap, "
              "over-relaxed iterations (kmeans.relax=1.5: each centroid moves 1.5x the way to the mean of its "
              "points, the last iteration plain) get as far in 10 iterations as plain ones in about 16, and one "
              "full Lloyd step over every point (kmeans.refine) wins back most of what the sample lost. Every "
              "method runs one thread, so CPU time is the same work measured without the other processes' share "
              "of the machine."]
    write_section("k-means", "\n".join(lines) + "\n")
    print("\n".join(lines))


def child(*argv: str) -> dict:
    """This script in a fresh process (its own peak RSS): the last line it prints, as JSON."""
    p = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"the memory run failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def memory(args) -> None:
    n = max(args.sizes)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = f"{tmp}/x.npy"
        np.save(path, blobs(n, args.k))
        m = child("--k", str(args.k), "--threads", str(args.threads), "--child", path, str(LARGE["mppc"]), LARGE["init"])
    text = [f"## Memory of k-means ({machine()})", "",
            f"{m['n']:,} points (overlapping set) memory-mapped from a {m['file_mb']:.0f} MiB .npy in a fresh process, "
            f"k={args.k}, the 100k settings (greedy k-means++, sample {LARGE['mppc']}/centroid, {LARGE['niter']} "
            f"iterations with relax={LARGE['relax']:g}, 1 full Lloyd step), train + "
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
        wide_file(path, n, d, args.k)
        for name, code in ([("before", args.baseline)] if args.baseline else []) + [("this code", "")]:
            runs[name] = child("--k", str(args.k), "--threads", str(args.threads), "--stage-child", path,
                               f"{tmp}/labels-{len(runs)}.npy", code)
            runs[name]["labels"] = np.load(f"{tmp}/labels-{len(runs) - 1}.npy")
            print(name, {k: v for k, v in runs[name].items() if k != "labels"}, flush=True)
    m = runs["this code"]
    lines = [f"The cluster path at {m['n']:,} x {m['d']:,} float32 rows ({m['file_mb'] / 1024:.1f} GiB .npy, "
             f"memory-mapped; overlapping set with per-dimension offsets and spreads): `pipeline.Stage.fit` with "
             f"preprocess=standard, k={args.k}, the 100k settings, assignment of every row, in a fresh process "
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
