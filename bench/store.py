"""The embedding store (issue 24, goal 1): reuse, resume, part size, bytes per window and a million windows.

    python bench/store.py                         # everything; writes the section 'Embedding store' of BENCHMARKS.md
    python bench/store.py --parts reuse --sets drums --encoders blockae    # a part of it (figures kept in results.json)

Every figure comes from the commands as a user runs them: `cluster.py` in a child process (its own process group),
`store.dir=<a fresh folder>`, `wandb.enabled=false`, the run's timings.json for the stages, wall time from start to
exit (start-up included).
- reuse: a first run (kmeans.k=10), then a second with only kmeans.k=8 changed: it must print "0 windows embedded",
  its embedding.npy must be byte-identical to the first's, and its wall time within 5 s of (first wall - first embed
  stage); FSDD with encoder=mix: at least 10x faster end to end (issue 24's promises, checked, never tuned).
  blockae: a train.py run per set (3 epochs), trained once under --scratch and reused.
- resume: a fresh store, the run SIGKILLed (its process group) once the store's parts hold half of the rows (their
  row counts polled from the Parquet footers), then run again: killed + resumed wall vs one uninterrupted run with
  the same store.flush_rows; and that uninterrupted run vs the default flush_rows (the cost of writing small parts).
- size: the store's bytes on disk per 1,000 windows vs the raw float32 vectors.
- scale: a million 1,536-d float32 windows written with Store.write_part in parts of --part-rows rows, then
  Store.lookup and Store.read into memory-mapped .npy, each phase in its own process: wall time, peak RSS (VmHWM:
  it counts the memory-mapped output's file pages the process touched) and peak anonymous RSS (heap: what a run
  cannot give back), polled.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from common import ROOT, PeakAnon, machine, peak_rss_mb, write_section

TITLE = "Embedding store"
DRUMS = Path.home() / ".cache" / "audioclust-data" / "drums"
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
SETS = {   # name -> (folder, train.py overrides of its blockae, cluster.py data overrides of a pretrained encoder)
    "drums": (DRUMS, ["data=folder", f"data.root={DRUMS}", "data.labels.source=parent", "data.n_clusters=10"],
              [f"data.root={DRUMS}", "data.labels.source=parent"]),
    "fsdd": (FSDD, ["experiment=fsdd", f"data.root={FSDD}"],
             [f"data.root={FSDD}", "data.labels.source=regex", "data.labels.pattern='^(\\d)_'"]),
}
ENV = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", PYTHONPATH=str(ROOT))


# ---- helpers (tests/tasks/test_bench_store.py) ------------------------------------------------------------------
def embedded_count(log: str) -> tuple[int, int] | None:
    """(windows embedded, reused) from a cluster run's printed lines (encoder=mix: one per member, summed), or None
    when it did not print one."""
    found = re.findall(r"embedding: (\d+) windows embedded, (\d+) reused", log)
    return (sum(int(a) for a, _ in found), sum(int(b) for _, b in found)) if found else None


def store_rows(store_dir: Path) -> int:
    """Rows in every finished part under a store folder (their Parquet footers; temp files are not parts)."""
    import pyarrow.parquet as pq

    n = 0
    for p in Path(store_dir).glob("*/part-*.parquet"):
        try:
            n += pq.read_metadata(p).num_rows
        except (OSError, ValueError):   # renamed or removed while listed
            pass
    return n


def promise_line(name: str, holds: bool, figures: str) -> str:
    return f"- {name}: **{'holds' if holds else 'does NOT hold'}** ({figures})"


# ---- runs -------------------------------------------------------------------------------------------------------
def command(args: list[str], log: Path, kill_at: tuple[Path, int] | None = None) -> dict:
    """One command (python <script> ...) as a user runs it, in its own process group: wall seconds, exit code, the
    load average around it; kill_at=(store dir, rows): SIGKILL the group once the store holds that many rows."""
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    with open(log, "w") as f:
        p = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=ENV,
                             start_new_session=True)
        killed_at = None
        if kill_at:
            while p.poll() is None:
                rows = store_rows(kill_at[0])
                if rows >= kill_at[1]:
                    os.killpg(p.pid, signal.SIGKILL)
                    killed_at = rows
                    break
                time.sleep(0.2)
        rc = p.wait()
    wall = time.perf_counter() - t
    if rc and killed_at is None:
        sys.exit(f"{' '.join(args)} failed ({rc}):\n{log.read_text()[-3000:]}")
    return {"wall_s": round(wall, 2), "rc": rc, "killed_at_rows": killed_at, "load": [round(load0, 1), round(os.getloadavg()[0], 1)]}


def blockae_run(data: str, scratch: Path) -> Path:
    """The set's block autoencoder (train.py, 3 epochs, seed 0), trained once under scratch/runs and reused."""
    run = scratch / "runs" / data / "blockae"
    if not (run / "model.pt").is_file():
        print(f"training blockae on {data}", flush=True)
        command(["train.py", *SETS[data][1], "trainer.max_epochs=3", "logger=none", "seed=0", f"hydra.run.dir={run}"],
                scratch / f"train-{data}.log")
    return run


def encoder_args(data: str, encoder: str, scratch: Path) -> list[str]:
    if encoder == "blockae":
        return [f"run_dir={blockae_run(data, scratch)}"]
    return [f"encoder={encoder}", *SETS[data][2]]


def cluster_run(name: str, data: str, encoder: str, store: Path, scratch: Path, extra=(), kill_at=None) -> dict:
    """cluster.py with a store; the run's figures: wall, stages (timings.json), windows embedded/reused, store bytes."""
    out = scratch / "out" / name
    shutil.rmtree(out, ignore_errors=True)
    log = scratch / "out" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    r = command(["cluster.py", *encoder_args(data, encoder, scratch), f"store.dir={store}", "wandb.enabled=false",
                 "progress=false", f"hydra.run.dir={out}", *extra], log, kill_at)
    r["out"] = str(out)
    if r["killed_at_rows"] is None:
        r["stages_s"] = json.loads((out / "timings.json").read_text())["stages_s"]
        r["embedded"], r["reused"] = embedded_count(log.read_text())
        rows = json.loads((out / "embed" / "rows.json").read_text())
        r["store_bytes"] = rows["store_bytes"]
        shape = np.load(out / "embed" / "embedding.npy", mmap_mode="r").shape
        r["windows"], r["dim"] = int(shape[0]), int(shape[1])
    print(name, {k: v for k, v in r.items() if k != "out"}, flush=True)
    return r


def undictionaried_bytes(store: Path) -> int:
    """The store's parts written again (in memory) with dictionary encoding on the path and file columns only (not
    on the float vectors, which pq.write_table's default also dictionary-encodes): what they would take on disk."""
    import io

    import pyarrow.parquet as pq

    n = 0
    for p in store.glob("*/part-*.parquet"):
        buf = io.BytesIO()
        pq.write_table(pq.read_table(p), buf, use_dictionary=["path", "file"])
        n += len(buf.getvalue())
    return n


def reuse(data: str, encoder: str, scratch: Path, first: dict | None = None) -> dict:
    """First run (or `first`, an earlier one whose store and outputs are still under scratch), then the same with
    kmeans.k=8: wall, embed stage, windows embedded, identical embeddings."""
    store = scratch / "stores" / f"{data}-{encoder}"
    if first is None:
        shutil.rmtree(store, ignore_errors=True)
        first = cluster_run(f"{data}-{encoder}-first", data, encoder, store, scratch, ["kmeans.k=10"])
    second = cluster_run(f"{data}-{encoder}-second", data, encoder, store, scratch, ["kmeans.k=8"])
    same = filecmp.cmp(Path(first["out"]) / "embed" / "embedding.npy", Path(second["out"]) / "embed" / "embedding.npy", shallow=False)
    return {"first": first, "second": second, "identical": same}


def resume(data: str, encoder: str, scratch: Path, flush_rows: int, total: int) -> dict:
    """Uninterrupted with store.flush_rows=flush_rows; then a fresh store: killed at half the rows, run again."""
    flush = [f"store.flush_rows={flush_rows}"]
    name = f"{data}-{encoder}-flush{flush_rows}"
    whole_store, store = scratch / "stores" / f"{name}-whole", scratch / "stores" / f"{name}-killed"
    for s in (whole_store, store):
        shutil.rmtree(s, ignore_errors=True)
    whole = cluster_run(f"{name}-whole", data, encoder, whole_store, scratch, ["kmeans.k=10", *flush])
    killed = cluster_run(f"{name}-killed", data, encoder, store, scratch, ["kmeans.k=10", *flush], kill_at=(store, total // 2))
    again = cluster_run(f"{name}-resumed", data, encoder, store, scratch, ["kmeans.k=10", *flush])
    a = np.load(Path(whole["out"]) / "embed" / "embedding.npy")
    b = np.load(Path(again["out"]) / "embed" / "embedding.npy")
    return {"flush_rows": flush_rows, "whole": whole, "killed": killed, "resumed": again,
            "identical": bool(np.array_equal(a, b)), "max_abs_diff": float(np.abs(a - b).max()) if a.shape == b.shape else None}


# ---- a million windows ------------------------------------------------------------------------------------------
def scale_keys(n: int, per_file: int = 100):
    """Keys of n windows: n / per_file files of per_file 1 s windows (the files need not exist to write or read)."""
    from audioclust.embed.store import Keys

    n_files = -(-n // per_file)
    sid = np.arange(n)
    return Keys([f"/archive/site{i // 100:03d}/rec{i:06d}.flac" for i in range(n_files)], np.full(n_files, 10 ** 7, np.int64),
                np.full(n_files, 1_700_000_000 * 10 ** 9, np.int64), [f"{i:024x}" for i in range(n_files)],
                sid // per_file, (sid % per_file).astype(np.float64))


_BASE = None


def part_vectors(i: int, rows: int, part_rows: int, dim: int) -> np.ndarray:
    """Part i's vectors: one block of gaussian noise (seed 0, incompressible as real embeddings nearly are) plus i,
    so that each part differs and a read can be checked without generating a million vectors twice."""
    global _BASE
    if _BASE is None or _BASE.shape != (part_rows, dim):
        _BASE = np.random.default_rng(0).standard_normal((part_rows, dim), dtype=np.float32)
    return _BASE[:rows] + np.float32(i)


def scale_phase(phase: str, root: Path, n: int, dim: int, part_rows: int) -> dict:
    """One phase in this process (a child of --parts scale): write, lookup or read; seconds and peaks."""
    from audioclust.embed.store import Found, Store

    keys = scale_keys(n)
    store = Store(root / "store", "scale", {"bench": "scale", "dim": dim})
    anon = PeakAnon()
    time.sleep(0.1)
    base = {"start_anon_mb": round(anon.mb)}   # the libraries (numpy, pyarrow, audioclust's imports)
    t = time.perf_counter()
    info: dict = {}
    if phase == "write":
        store.open()
        gen = 0.0
        for i, a in enumerate(range(0, n, part_rows)):
            g = time.perf_counter()
            v = part_vectors(i, min(part_rows, n - a), part_rows, dim)
            gen += time.perf_counter() - g
            store.write_part(keys, np.arange(a, a + len(v)), {"embedding": v, "ok": np.ones(len(v), bool),
                                                               "power": np.ones(len(v), np.float32)})
        info = {"generate_s": round(gen, 2), "parts": len(store.parts()), "bytes": store.size_bytes()}
    elif phase == "lookup":
        found = store.lookup(keys)
        info = {"present": int(found.present.sum())}
        np.savez(root / "found.npz", present=found.present, part=found.part, row=found.row,
                 parts=np.array([str(p) for p in found.parts]))
    else:
        z = np.load(root / "found.npz")
        found = Found(z["present"], z["part"], z["row"], [Path(p) for p in z["parts"]])
        emb = store.read(found, root / "read")
        info = {"rows": int(len(emb["embedding"]))}
        seconds = time.perf_counter() - t
        rng = np.random.default_rng(0)   # a few parts' rows against the vectors written
        chunks = -(-n // part_rows)
        for i in rng.choice(chunks, min(8, chunks), replace=False):
            a = i * part_rows
            v = part_vectors(int(i), min(part_rows, n - a), part_rows, dim)
            assert np.array_equal(emb["embedding"][a:a + len(v)], v), f"part {i} read back wrong"
        info["checked_parts"] = min(8, chunks)
        return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb()), "peak_anon_mb": round(anon.mb), **base, **info}
    return {"seconds": round(time.perf_counter() - t, 2), "peak_rss_mb": round(peak_rss_mb()), "peak_anon_mb": round(anon.mb), **base, **info}


def scale(scratch: Path, n: int, dim: int, part_rows: int) -> dict:
    root = scratch / "scale"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    out = {"n": n, "dim": dim, "part_rows": part_rows}
    try:
        for phase in ("write", "lookup", "read"):
            p = subprocess.run([sys.executable, __file__, "--scale-phase", phase, "--scratch", str(scratch), "--n", str(n),
                                "--dim", str(dim), "--part-rows", str(part_rows)], cwd=ROOT, env=ENV, capture_output=True, text=True)
            if p.returncode:
                sys.exit(f"scale {phase} failed:\n{p.stderr[-3000:]}")
            out[phase] = json.loads(p.stdout.strip().splitlines()[-1])
            print("scale", phase, out[phase], flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


# ---- the section ------------------------------------------------------------------------------------------------
def section(res: dict) -> str:
    lines = [f"## {TITLE}", "",
             "`python bench/store.py` (issue 24, goal 1): `cluster.py` as a user runs it, in a child process, with "
             "`store.dir=<a fresh folder>` `wandb.enabled=false` `progress=false`, every other option its default "
             "(plots and explorer.html included); wall time from start to exit (start-up included), the embed stage "
             "from the run's timings.json. blockae: a `train.py` run per set (3 epochs, seed 0; drums `data=folder`, "
             "FSDD `experiment=fsdd`); mix: `encoder=mix` (aisfx+birdnet). The second run changes only `kmeans.k` "
             "(10 -> 8). The machine is shared (load average before and after each run in results.json): walls vary "
             "with it, so each ratio is from runs made one after the other.", ""]
    promises = []
    if res.get("reuse"):
        lines += ["| set | encoder | windows | first run (s) | its embed stage (s) | second run (s) | second: embedded | "
                  "first / second | second - (first - embed) (s) | embeddings identical | measured |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for key, r in res["reuse"].items():
            data, enc = key.split("/")
            f, s = r["first"], r["second"]
            emb = f["stages_s"]["embed"]
            gap = s["wall_s"] - (f["wall_s"] - emb)
            lines.append(f"| {data} | {enc} | {f['windows']:,} | {f['wall_s']:.1f} | {emb:.1f} | {s['wall_s']:.1f} | "
                         f"{s['embedded']} ({s['reused']:,} reused) | {f['wall_s'] / s['wall_s']:.1f}x | {gap:+.1f} | "
                         f"{'yes, byte for byte' if r['identical'] else 'NO'} | {r['date']} |")
            earlier = "".join(f"; an earlier second run: {e['wall_s']:.1f} s" for e in r.get("earlier_seconds", []))
            promises.append(promise_line(f"{data} {enc}: second run within 5 s of first minus its embed stage", gap <= 5,
                                         f"{s['wall_s']:.1f} s vs {f['wall_s']:.1f} - {emb:.1f} = {f['wall_s'] - emb:.1f} s{earlier}"))
            promises.append(promise_line(f"{data} {enc}: second run embeds nothing, same embeddings",
                                         s["embedded"] == 0 and r["identical"], f"{s['embedded']} windows embedded, "
                                         f"embedding.npy {'byte-identical' if r['identical'] else 'differs'}"))
            if key == "fsdd/mix":
                ratio = f["wall_s"] / s["wall_s"]
                promises.append(promise_line("FSDD encoder=mix: second run at least 10x faster end to end", ratio >= 10,
                                             f"{f['wall_s']:.1f} s / {s['wall_s']:.1f} s = {ratio:.1f}x"))
        for key, r in res["reuse"].items():
            for e in r.get("earlier_seconds", []):
                lines.append(f"\n{key}: an earlier second run ({e['date']}, load average {e['load'][0]} -> {e['load'][1]}): "
                             f"{e['wall_s']:.1f} s, stages " + ", ".join(f"{n} {v:.1f}" for n, v in e["stages_s"].items()) +
                             f"; the table's second run was made again at {r.get('second_date')}.")
        lines += ["", "Stages of the second runs (s): " + "; ".join(
            f"{k}: " + ", ".join(f"{n} {v:.1f}" for n, v in r["second"]["stages_s"].items()) for k, r in res["reuse"].items()),
                  "", "Stages of the first runs (s): " + "; ".join(
            f"{k}: " + ", ".join(f"{n} {v:.1f}" for n, v in r["first"]["stages_s"].items()) for k, r in res["reuse"].items()), ""]
    if res.get("resume"):
        r = res["resume"]
        w, k, a = r["whole"], r["killed"], r["resumed"]
        d = res["reuse"].get(r["key"], {}).get("first") if res.get("reuse") else None
        lines += [f"Resume ({r['key'].replace('/', ', ')}; store.flush_rows={r['flush_rows']} so that parts are "
                  f"written during the run, {r['date']}): one uninterrupted run {w['wall_s']:.1f} s (embed stage "
                  f"{w['stages_s']['embed']:.1f} s); a run SIGKILLed (process group) when the store held "
                  f"{k['killed_at_rows']:,} of {w['windows']:,} rows, after {k['wall_s']:.1f} s, then run again: "
                  f"{a['wall_s']:.1f} s ({a['embedded']:,} windows embedded, {a['reused']:,} reused; its embed stage "
                  f"{a['stages_s']['embed']:.1f} s); killed + resumed {k['wall_s'] + a['wall_s']:.1f} s = "
                  f"{(k['wall_s'] + a['wall_s']) / w['wall_s']:.2f}x the uninterrupted run ("
                  + ("below 1x: the shared machine's noise, e.g. the cluster and map stages; " if k['wall_s'] + a['wall_s'] < w['wall_s'] else "")
                  + f"the work is {k['killed_at_rows']:,} + {a['embedded']:,} = "
                  f"{k['killed_at_rows'] + a['embedded']:,} windows embedded, none twice, plus the killed run's start-up and "
                  f"the rows it had not yet written, at most flush_rows). Embeddings of the resumed run vs the uninterrupted: "
                  + ("byte-identical." if r["identical"] else f"max |difference| {r['max_abs_diff']:.2g} (batches differ)."), ""]
        if d:
            lines += [f"Cost of small parts: the same uninterrupted run with the default store.flush_rows=4096 (the reuse "
                      f"table's first run): {d['wall_s']:.1f} s, embed stage {d['stages_s']['embed']:.1f} s; with "
                      f"flush_rows={r['flush_rows']}: {w['wall_s']:.1f} s, embed stage {w['stages_s']['embed']:.1f} s "
                      f"({w['stages_s']['embed'] / d['stages_s']['embed']:.2f}x), store {w['store_bytes'] / 2 ** 20:.2f} MiB "
                      f"vs {d['store_bytes'] / 2 ** 20:.2f} MiB (runs minutes apart on the shared machine: the difference is "
                      f"within its noise; a part's own cost is in the million-window write below).", ""]
    if res.get("reuse"):
        lines += ["Store size (bytes on disk of the partition after the first run / windows, per 1,000 windows) vs the "
                  "raw float32 vectors (dim x 4 bytes). Last column: the same parts written again without dictionary "
                  "encoding on the vector column (pq.write_table's default dictionary-encodes every column, the float "
                  "vectors too; `use_dictionary=['path', 'file']`), size vs raw:", "",
                  "| set | encoder | dim | windows | store MiB | per 1,000 windows (MiB) | raw float32 per 1,000 (MiB) | "
                  "store / raw | vectors without dictionary / raw |", "|---|---|---|---|---|---|---|---|---|"]
        for key, r in res["reuse"].items():
            f = r["first"]
            per, raw = f["store_bytes"] / f["windows"] * 1000, f["dim"] * 4 * 1000
            lines.append(f"| {key.split('/')[0]} | {key.split('/')[1]} | {f['dim']} | {f['windows']:,} | "
                         f"{f['store_bytes'] / 2 ** 20:.2f} | {per / 2 ** 20:.3f} | {raw / 2 ** 20:.3f} | {per / raw:.2f} | "
                         + (f"{r['no_dict_bytes'] / f['windows'] * 1000 / raw:.2f} |" if r.get("no_dict_bytes") else "- |"))
        lines.append("")
    if res.get("scale"):
        s = res["scale"]
        gib = s["n"] * s["dim"] * 4 / 2 ** 30
        lines += [f"A million windows ({s['n']:,} x {s['dim']:,} float32 = {gib:.1f} GiB; {s['date']}): written with "
                  f"Store.write_part in parts of {s['part_rows']:,} rows ({s['write']['parts']} parts, as the writer "
                  f"would with store.flush_rows={s['part_rows']}; 10,000 files of 100 windows; the vectors: one block of gaussian "
                  "noise plus the part's number, incompressible), then Store.lookup of "
                  "every window and Store.read into memory-mapped .npy, each phase a process of its own. Peak RSS is "
                  "VmHWM (it counts the file pages of the memory-mapped output that the process touched, which the "
                  "kernel can drop); peak anonymous RSS (heap) is polled every 20 ms.", "",
                  "| phase | wall (s) | peak RSS (MiB) | peak anonymous RSS (MiB) (after imports) | notes |", "|---|---|---|---|---|",
                  f"| write | {s['write']['seconds']:.1f} | {s['write']['peak_rss_mb']:,} | {s['write']['peak_anon_mb']:,} ({s['write']['start_anon_mb']}) | "
                  f"{s['write']['bytes'] / 2 ** 30:.2f} GiB on disk; {s['write']['generate_s']:.1f} s of it generating the vectors |",
                  f"| lookup | {s['lookup']['seconds']:.1f} | {s['lookup']['peak_rss_mb']:,} | {s['lookup']['peak_anon_mb']:,} ({s['lookup']['start_anon_mb']}) | "
                  f"{s['lookup']['present']:,} rows found |",
                  f"| read | {s['read']['seconds']:.1f} | {s['read']['peak_rss_mb']:,} | {s['read']['peak_anon_mb']:,} ({s['read']['start_anon_mb']}) | "
                  f"{s['read']['rows']:,} rows; {s['read']['checked_parts']} parts checked equal to what was written |", ""]
        if s.get("note"):
            lines += [s["note"], ""]
    if promises:
        lines += ["Issue 24's promises, as measured:", "", *promises, ""]
    for note in res.get("notes", []):   # by hand in results.json: what a diagnosis of these runs found
        lines += [note, ""]
    lines.append(f"Machine: {res.get('machine', '')}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", nargs="*", default=["reuse", "resume", "scale"])
    ap.add_argument("--sets", nargs="*", default=["drums", "fsdd"])
    ap.add_argument("--encoders", nargs="*", default=["blockae", "mix"])
    ap.add_argument("--resume-on", default="drums/blockae", help="set/encoder of the resume runs")
    ap.add_argument("--flush-rows", type=int, default=256, help="store.flush_rows of the resume runs")
    ap.add_argument("--scratch", default=str(ROOT / "logs" / "bench" / "store"), help="trained runs, stores, outputs")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=1536)
    ap.add_argument("--part-rows", type=int, default=4096)
    ap.add_argument("--second-again", action="store_true", help="reuse: run only the second run again (the first kept)")
    ap.add_argument("--scale-phase", choices=["write", "lookup", "read"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help="write the section here instead of BENCHMARKS.md")
    args = ap.parse_args()
    scratch = Path(args.scratch).resolve()
    if args.scale_phase:
        print(json.dumps(scale_phase(args.scale_phase, scratch / "scale", args.n, args.dim, args.part_rows)))
        return
    scratch.mkdir(parents=True, exist_ok=True)
    results = scratch / "results.json"
    res = json.loads(results.read_text()) if results.is_file() else {}
    res.setdefault("reuse", {})
    res["machine"] = machine()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def save():
        results.write_text(json.dumps(res, indent=1))

    if "reuse" in args.parts:
        for data in args.sets:
            for enc in args.encoders:
                key = f"{data}/{enc}"
                before = res["reuse"].get(key) if args.second_again else None
                r = reuse(data, enc, scratch, before["first"] if before else None)
                if before:   # the earlier second runs kept beside the new one
                    r["earlier_seconds"] = before.get("earlier_seconds", []) + [{**before["second"], "date": before["date"]}]
                res["reuse"][key] = {**r, "date": before["date"] if before else date, "second_date": date,
                                     "no_dict_bytes": undictionaried_bytes(scratch / "stores" / f"{data}-{enc}")}
                save()
    for key, r in res["reuse"].items():   # measured before this figure was added
        if "no_dict_bytes" not in r and (scratch / "stores" / key.replace("/", "-")).is_dir():
            r["no_dict_bytes"] = undictionaried_bytes(scratch / "stores" / key.replace("/", "-"))
    if "resume" in args.parts:
        data, enc = args.resume_on.split("/")
        total = res["reuse"].get(args.resume_on, {}).get("first", {}).get("windows")
        if not total:
            sys.exit(f"resume needs the reuse runs of {args.resume_on} first (--parts reuse)")
        res["resume"] = {**resume(data, enc, scratch, args.flush_rows, total), "key": args.resume_on, "date": date}
        save()
    if "scale" in args.parts:
        res["scale"] = {**scale(scratch, args.n, args.dim, args.part_rows), "date": date}
        save()
    text = section(res)
    write_section(TITLE, text, args.out)
    print(text)


if __name__ == "__main__":
    main()
