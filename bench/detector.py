"""Activity detector: recall and precision on long recordings with known events, at several SNRs.

    python bench/detector.py [--minutes 10] [--recordings 2] [--snrs 20 10 5 0] [--per-minute 8] [--benchmarks]
                             [--detectors energy:bands=1 energy novelty] [--noise DIR [--steady DB]]
                             [--cluster [--cluster-detectors energy novelty] [--encoder speech] [--clip 1] [--hop 0.5]]

Each recording is `--minutes` of background with about `--per-minute` events placed at random times (>= 1 s
apart): real clips, half spoken digits from FSDD (../shared/data/fsdd/recordings, 8 kHz), half drum one-shots
(the drums set, built by ../shared/data/drums/build.sh into ~/.cache/audioclust-data/drums when missing),
resampled to 16 kHz. No real background-noise set is available here, so the background is synthetic: pink (1/f)
noise whose level drifts slowly (a +-6 dB swing over 4 minutes plus a smoothed random walk of ~2 dB), around
-45 dBFS. An event's true extent is the clip trimmed to its frames within 30 dB of its loudest; its SNR is its
RMS over that extent against the background's RMS at that time, broadband (so 0 dB means event and background
have the same power). Recordings are written to a temp folder (never the repo) as float WAV and read back with
detect_file (the chunked path, 60 s chunks).

Scores, per SNR and detector setting (padding off, so that onsets are the detector's own):
- recall: a true event is found when detections cover >= 50% of its extent; also split digits / drums;
- onset recall: some detection starts within 0.1 s of the true onset;
- precision: the share of detections that overlap a true event at all;
- time precision: the share of the kept seconds that lie inside true events;
- false detections per hour of recording, and the share of the recording kept as events.

With --cluster, how much better the clusters get than with fixed windows: each SNR's recordings are embedded
by a pretrained encoder (no training per SNR; `speech` by default: fast on CPU, and half the events are spoken
digits) through cluster.py's own data route, once as every fixed window (`data.hop_seconds`) and once as each
detector's events (`data/segment=energy`, `data/segment=novelty`), and clustered with conf/cluster.yaml's defaults, k = classes + 1.
Each window is labelled with the class of the placed clip it overlaps most (digit 0-9 or drum class; enough
overlap: min(0.1 s, half the clip)), else 'background'; scored: NMI/ACC on all windows and on the windows at
events, the share of clusters whose largest label is background, and the share of placed clips reached.

Writes bench/detector_results.md (a local copy, not tracked: the numbers live in BENCHMARKS.md); with --benchmarks,
also the section 'Activity detector' of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine  # noqa: E402

from audioclust.data.audio import list_audio_files, load, trim_silence  # noqa: E402
from audioclust.data.segment import SegmentConfig, detect_file  # noqa: E402

SR = 16000
FSDD = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
DRUMS_BUILD = ROOT.parent / "shared" / "data" / "drums" / "build.sh"
BASE_DB = -45.0
DEFAULT_OUT = str(ROOT / "bench" / "detector_results.md")
CLUSTERS = "Clusters with and without the activity detector"   # its BENCHMARKS.md section (--cluster)


def drums_dir() -> Path:
    out = Path.home() / ".cache" / "audioclust-data" / "drums"
    if not (out / ".complete").exists():
        out = Path(subprocess.run(["bash", str(DRUMS_BUILD)], check=True, capture_output=True, text=True)
                   .stdout.strip().splitlines()[-1])
    return out


def pink(n: int, rng) -> np.ndarray:
    """Unit-RMS 1/f noise (flat below 20 Hz)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SR)
    spec /= np.sqrt(np.maximum(f, 20.0))
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x ** 2))


def level_db(n: int, rng) -> np.ndarray:
    """Slowly drifting background level in dB, sampled per sample (built at 10 Hz, interpolated)."""
    m = n // (SR // 10) + 2
    t = np.arange(m) / 10
    walk = np.cumsum(rng.standard_normal(m))
    walk = np.convolve(np.pad(walk - walk.mean(), 150, mode="edge"), np.ones(300) / 300, "valid")[:m]  # 30 s
    walk = 2.0 * walk / (walk.std() + 1e-9)
    lv = BASE_DB + 6 * np.sin(2 * np.pi * t / 240 + rng.uniform(0, 2 * np.pi)) + walk
    return np.interp(np.arange(n) / SR, t, lv)


def clip_pool(rng, n: int) -> list[tuple[str, np.ndarray, str]]:
    """n (kind, trimmed wave, class) triples, half digits (class 'digit <d>', from the file name), half drums
    (class: the drum folder, e.g. 'kick')."""
    digits = sorted(FSDD.glob("*.wav"))
    drums = list_audio_files(drums_dir())
    out = []
    for i in range(n):
        kind, files = ("digit", digits) if i % 2 == 0 else ("drum", drums)
        for _ in range(20):
            f = Path(files[rng.integers(len(files))])
            x = trim_silence(load(str(f), SR), SR, top_db=30)
            if len(x) >= 0.03 * SR and np.any(x):
                break
        out.append((kind, x.astype(np.float64), f"digit {f.name[0]}" if kind == "digit" else f.parent.name))
    return out


def level_swing_db(w: np.ndarray) -> float:
    """How much a recording's level moves: the std (dB) of its RMS level over 1 s frames."""
    frames = w[: len(w) // SR * SR].reshape(-1, SR)
    return float(np.std(10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)))


def noise_files(folder: Path, max_swing_db: float | None = None) -> list[np.ndarray]:
    """The real background recordings of --noise: every audio file under it, mono at SR, those of at least 2 s;
    with max_swing_db only the steady ones (level_swing_db at most that)."""
    waves = [load(str(f), SR).astype(np.float64) for f in list_audio_files(folder)]
    waves = [w for w in waves if len(w) >= 2 * SR and np.sqrt(np.mean(w ** 2)) > 1e-5
             and (max_swing_db is None or level_swing_db(w) <= max_swing_db)]
    if not waves:
        sys.exit(f"no background recording of 2 s or more under {folder}")
    return waves


def noise_args(args) -> str:
    """The --noise / --steady part of the command line, as the sections quote it (home folder as ~)."""
    if not args.noise:
        return ""
    where = str(Path(args.noise)).replace(str(Path.home()), "~", 1)
    return f" --noise {where}" + (f" --steady {args.steady:g}" if args.steady is not None else "")


def noise_note(folder: Path) -> str:
    """What the background recordings are: the first line of SOURCE in their folder (bench/noise_data.sh writes
    it), else the folder's name."""
    src = folder / "SOURCE"
    return src.read_text().strip().splitlines()[0] if src.is_file() else folder.name


def real_background(n: int, rng, waves: list[np.ndarray]) -> np.ndarray:
    """n samples of real background: seeded random stretches (up to 60 s) of the recordings, each brought to the
    same RMS and joined with 50 ms crossfades, the whole at BASE_DB dBFS; within a stretch the recording keeps
    its own level changes."""
    fade = int(0.05 * SR)
    ramp = np.linspace(0, 1, fade)
    out = np.zeros(0)
    while len(out) < n:
        w = waves[rng.integers(len(waves))]
        m = min(len(w), 60 * SR, n - len(out) + fade)
        a = int(rng.integers(0, len(w) - m + 1))
        piece = w[a: a + m] / np.sqrt(np.mean(w[a: a + m] ** 2) + 1e-20)
        if len(out) and len(piece) > fade:
            piece[:fade] = out[-fade:] * (1 - ramp) + piece[:fade] * ramp
            out = out[:-fade]
        out = np.concatenate([out, piece])
    out = out[:n]
    return out / np.sqrt(np.mean(out ** 2)) * 10 ** (BASE_DB / 20)


def make_recording(minutes: float, per_minute: float, snr_db: float, seed: int, noise=None):
    """(wave, truth) with truth a list of (onset s, offset s, kind, class). noise: real background recordings
    (noise_files) instead of the synthetic pink noise."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * SR)
    if noise is None:
        bg_rms = 10 ** (level_db(n, rng) / 20)
        x = pink(n, rng) * bg_rms
    else:
        x = real_background(n, rng, noise)
    k = int(minutes * per_minute)
    clips = clip_pool(rng, k)
    truth, t = [], rng.uniform(1.0, 3.0)
    mean_gap = minutes * 60 / max(k, 1)
    for kind, c, label in clips:
        s = int(t * SR)
        if s + len(c) >= n - SR:
            break
        local = np.sqrt(np.mean((bg_rms[s: s + len(c)] if noise is None else x[s: s + len(c)]) ** 2))
        gain = local * 10 ** (snr_db / 20) / np.sqrt(np.mean(c ** 2))
        x[s: s + len(c)] += gain * c
        truth.append((s / SR, (s + len(c)) / SR, kind, label))
        t = (s + len(c)) / SR + 1.0 + rng.exponential(max(mean_gap - 1.5, 0.1))
    return x.astype(np.float32), truth


def score(events, truth, duration: float) -> dict:
    ev = np.asarray(events, float).reshape(-1, 2)
    tr = np.array([t[:2] for t in truth], float).reshape(-1, 2)
    kinds = np.array([t[2] for t in truth])
    inter = np.clip(np.minimum(tr[:, None, 1], ev[None, :, 1]) - np.maximum(tr[:, None, 0], ev[None, :, 0]), 0, None)
    covered = inter.sum(axis=1) / (tr[:, 1] - tr[:, 0])
    found = covered >= 0.5
    onset = (np.abs(tr[:, None, 0] - ev[None, :, 0]) <= 0.1).any(axis=1) if len(ev) else np.zeros(len(tr), bool)
    true_det = (inter > 0).any(axis=0) if len(tr) else np.zeros(len(ev), bool)
    return dict(events=len(tr), recall=found.mean(), digits=found[kinds == "digit"].mean(),
                drums=found[kinds == "drum"].mean(), onset=onset.mean(), detections=len(ev),
                precision=true_det.mean() if len(ev) else float("nan"), false=int((~true_det).sum()),
                kept=float((ev[:, 1] - ev[:, 0]).sum() / duration) if len(ev) else 0.0,
                at_events=float(inter.sum() / duration))   # detections and events do not overlap themselves


def segment_preset(spec: str) -> dict:
    """A detector setting of --detectors, 'PRESET[:key=value,...]': conf/data/segment/PRESET.yaml (its defaults
    list, another preset, included) with the values on top, as `data/segment=PRESET data.segment.key=value` gives."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    name, _, rest = spec.partition(":")
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf" / "data" / "segment"), version_base=None):
        return OmegaConf.to_container(compose(name, overrides=[kv for kv in rest.split(",") if kv]))


def detector_config(spec: str, **extra) -> SegmentConfig:
    """segment_preset(spec) as the detector's settings; `extra` on top."""
    return SegmentConfig(**{**segment_preset(spec), **extra})


def window_labels(offsets, clip: float, truth) -> tuple[list[str], np.ndarray]:
    """Per window [offset, offset + clip): the class of the placed clip it overlaps most, provided the overlap
    is at least min(0.1 s, half the clip's extent) (a drum hit can be 30 ms), else 'background'; and the index
    of that event in truth (-1 for background)."""
    tr = np.array([t[:2] for t in truth], float).reshape(-1, 2)
    a = np.asarray(offsets, float)[:, None]
    inter = np.clip(np.minimum(a + clip, tr[None, :, 1]) - np.maximum(a, tr[None, :, 0]), 0, None)
    best = inter.argmax(axis=1) if len(tr) else np.zeros(len(a), int)
    need = np.minimum(0.1, 0.5 * (tr[:, 1] - tr[:, 0])) if len(tr) else np.zeros(0)
    hit = inter[np.arange(len(a)), best] >= need[best] if len(tr) else np.zeros(len(a), bool)
    return [truth[j][3] if h else "background" for j, h in zip(best, hit)], np.where(hit, best, -1)


def cluster_scores(labels: list[str], clusters: np.ndarray) -> dict:
    """NMI / ACC over every window and over the windows at events, and the share of (non-empty) clusters whose
    largest label is background."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from audioclust.cluster.metrics import cluster_accuracy

    y, c = np.asarray(labels, dtype=object), np.asarray(clusters)
    ev = y != "background"
    major = [max(set(y[c == j]), key=list(y[c == j]).count) for j in np.unique(c)]
    return dict(windows=len(y), event_windows=int(ev.sum()), nmi=nmi(y, c), acc=cluster_accuracy(y, c),
                nmi_ev=nmi(y[ev], c[ev]) if ev.any() else float("nan"),
                acc_ev=cluster_accuracy(y[ev], c[ev]) if ev.any() else float("nan"),
                bg_clusters=float(np.mean([m == "background" for m in major])))


def cluster_quality(folder: Path, truths: dict, args) -> list[dict]:
    """Embed the recordings in `folder` as fixed windows and as each detector's events (audioclust.embed: the
    cluster task's data route and encoder; each window one row), cluster them (audioclust.cluster, conf/cluster.yaml's
    defaults), k = the classes present + 1 (background), scored per k-means seed."""
    import torch

    import audioclust

    classes = {t[3] for truth in truths.values() for t in truth}
    k = len(classes) + 1
    n_events = sum(len(t) for t in truths.values())
    out = []
    modes = [("fixed windows", {})] + [(f"{d} events", {"segment": segment_preset(d)}) for d in args.cluster_detectors]
    for mode, extra in modes:
        windowing = {"clip_seconds": args.clip, "hop_seconds": args.hop, "pool_windows_up_to": 0, **extra}
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        emb = audioclust.embed(folder, encoder=args.encoder, windowing=windowing, device="cpu")
        embed_s = time.perf_counter() - t0
        x, offs = emb.vectors, emb.offset
        files = [Path(p).name for p in emb.path]
        y, seen = [""] * len(x), [None] * len(x)   # per window: its label, (recording, event) or None
        for name in set(files):
            sel = [i for i, f in enumerate(files) if f == name]
            lab, eid = window_labels(offs[sel], float(args.clip), truths[name])
            for i, v, e in zip(sel, lab, eid):
                y[i], seen[i] = v, (name, int(e)) if e >= 0 else None
        events_seen = len({e for e in seen if e is not None}) / max(n_events, 1)
        seeds = [cluster_scores(y, audioclust.cluster(x, k=k, seed=seed, gpu=False).labels_) for seed in args.cluster_seeds]
        row = {m: float(np.mean([s[m] for s in seeds])) for m in seeds[0]}
        row.update(mode=mode, k=k, embed_s=embed_s, events_seen=events_seen, nmi_sd=float(np.std([s["nmi_ev"] for s in seeds])))
        out.append(row)
        print(folder.name, row, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--recordings", type=int, default=2, help="recordings per SNR (different seeds)")
    ap.add_argument("--per-minute", type=float, default=8.0)
    ap.add_argument("--snrs", type=float, nargs="+", default=[20, 10, 5, 0])
    ap.add_argument("--detectors", nargs="+", default=["energy:bands=1", "energy", "novelty"],
                    help="detector settings to compare: a conf/data/segment preset, optionally with :key=value,...")
    ap.add_argument("--out", default=DEFAULT_OUT, help="default with --noise: bench/detector_results_real.md")
    ap.add_argument("--benchmarks", action="store_true", help="also write the section into BENCHMARKS.md")
    ap.add_argument("--cluster", action="store_true",
                    help="also cluster each SNR's recordings as fixed windows and as detector events (section "
                         "'Activity detector: clusters')")
    ap.add_argument("--encoder", default="speech", help="--cluster: the pretrained encoder (no training per SNR)")
    ap.add_argument("--clip", type=float, default=1.0, help="--cluster: window length (data.clip_seconds)")
    ap.add_argument("--hop", type=float, default=0.5, help="--cluster: fixed windows' hop (data.hop_seconds)")
    ap.add_argument("--cluster-detectors", nargs="+", default=["energy", "novelty"],
                    help="--cluster: the conf/data/segment presets whose events are clustered beside fixed windows")
    ap.add_argument("--cluster-seeds", type=int, nargs="+", default=[0, 1, 2], help="--cluster: k-means seeds")
    ap.add_argument("--noise", help="a folder of real background recordings (bench/noise_data.sh makes one) instead of "
                                    "the synthetic pink noise; its sections get the title suffix ', real background'")
    ap.add_argument("--steady", type=float, help="--noise: only recordings whose 1 s level moves at most this many "
                                                  "dB (std): rain, wind, insects, not bird song")
    args = ap.parse_args()
    if any(":" in d for d in args.cluster_detectors):
        ap.error("--cluster-detectors takes conf/data/segment preset names (no ':key=value'; set those in the preset)")
    noise = noise_files(Path(args.noise), args.steady) if args.noise else None
    if not FSDD.is_dir():
        sys.exit(f"FSDD not found at {FSDD}")
    line = machine()
    rows, audio_s, detect_s, crows = [], 0.0, 0.0, []
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="audioclust-detector-") as tmp:
        for snr in args.snrs:
            recs = []
            folder = Path(tmp) / f"snr{snr:g}"
            folder.mkdir()
            for r in range(args.recordings):
                x, truth = make_recording(args.minutes, args.per_minute, snr, seed=1000 * r + int(snr * 10) + 7,
                                          noise=noise)
                path = folder / f"rec{r}.wav"
                sf.write(path, x, SR, subtype="FLOAT")
                recs.append((path, truth, len(x) / SR))
            for name in args.detectors:
                cfg = detector_config(name, pad_seconds=0.0)
                scores = []
                for path, truth, dur in recs:
                    t0 = time.perf_counter()
                    seg = detect_file(path, SR, cfg, chunk_seconds=60)
                    detect_s += time.perf_counter() - t0
                    audio_s += dur
                    scores.append((score(seg.events, truth, dur), dur))
                tot = sum(d for _, d in scores)
                agg = {k: float(np.average([s[k] for s, _ in scores], weights=[s["events"] for s, _ in scores]))
                       for k in ("recall", "digits", "drums", "onset")}
                det = sum(s["detections"] for s, _ in scores)
                false = sum(s["false"] for s, _ in scores)
                kept_s = sum(s["kept"] * d for s, d in scores)
                rows.append(dict(snr=snr, detector=name, events=sum(s["events"] for s, _ in scores), **agg,
                                 precision=(det - false) / det if det else float("nan"),
                                 time_precision=sum(s["at_events"] * d for s, d in scores) / kept_s if kept_s else float("nan"),
                                 false_h=false / tot * 3600, kept=sum(s["kept"] * d for s, d in scores) / tot))
                print(rows[-1], flush=True)
            if args.cluster:
                crows += [dict(r, snr=snr) for r in
                          cluster_quality(folder, {p.name: truth for p, truth, _ in recs}, args)]
    suffix = (", real background" + (f" (steady, <= {args.steady:g} dB)" if args.steady is not None else "")
              if noise else "")
    background = (f"**real** background recordings ({len(noise)} files under `{args.noise}`, "
                  f"{sum(len(w) for w in noise) / SR / 60:.1f} min: {noise_note(Path(args.noise))}"
                  + (f"; only those whose level over 1 s frames moves at most {args.steady:g} dB (std)"
                     if args.steady is not None else "") + "; seeded stretches "
                  "of up to 60 s joined with 50 ms crossfades, each stretch brought to the same RMS and keeping its own "
                  "level changes, the whole around -45 dBFS)" if noise else
                  "a **synthetic** background (no real noise set here): pink noise around -45 dBFS whose level "
                  "drifts +-6 dB over 4 min plus a ~2 dB random walk")
    text = [f"## Activity detector{suffix} ({line})", "",
            f"`python bench/detector.py{noise_args(args)}` ({args.recordings} recordings of {args.minutes:g} min per SNR, "
            f"~{args.per_minute:g} events/min, {SR} Hz). Events: real clips, half FSDD spoken digits, half drum "
            f"one-shots, trimmed to their frames within 30 dB of their peak, placed >= 1 s apart over {background}. "
            "SNR = event RMS over its extent vs the local background RMS, broadband. "
            "Detector defaults (25 ms frames, 100 Hz high-pass, floor = 20th percentile over 30 s, threshold 6 dB, "
            f"hysteresis 3 dB, min event 0.1 s, merge gap 0.3 s) with padding off. Detectors (`--detectors`): "
            f"{', '.join(f'`{d}`' for d in args.detectors)}; the presets: `energy` (`data/segment=energy`: each of "
            "8 log-spaced bands has its own floor; `:bands=1`: the broadband energy), `novelty` "
            "(`data/segment=novelty`: as `energy`, and a band must also rise 3 robust standard deviations above its "
            "own running median, so a background that moves by itself needs a larger excursion).", "",
            "Recall: the detections cover >= 50% of a true event. Onset recall: a detection starts within 0.1 s "
            "of the true onset. Precision: detections that overlap a true event at all. Time precision: the share "
            "of the kept seconds that lie inside true events. Kept: share of the recording inside detections.", "",
            "| SNR (dB) | detector | events | recall | digits | drums | onset recall (±0.1 s) | precision "
            "| time precision | false det./h | kept |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        text.append(f"| {r['snr']:g} | {r['detector']} | {r['events']} | {r['recall']:.3f} | {r['digits']:.3f} "
                    f"| {r['drums']:.3f} | {r['onset']:.3f} | {r['precision']:.3f} | {r['time_precision']:.3f} "
                    f"| {r['false_h']:.1f} "
                    f"| {100 * r['kept']:.1f}% |")
    text += ["", f"Detection speed (detect_file, reading float WAV): {audio_s / max(detect_s, 1e-9):,.0f}x real "
             f"time on one core ({audio_s / 3600:.1f} h of audio in all).", ""]
    md = "\n".join(text)
    print(md)
    cmd = cluster_section(crows, args, line, time.perf_counter() - t_start, suffix) if args.cluster else None
    if cmd:
        print(cmd)
    from audioclust.io import write_text

    out = Path(args.out if not noise or args.out != DEFAULT_OUT else
               DEFAULT_OUT.replace(".md", "_real.md" if args.steady is None else "_steady.md"))
    old = out.read_text() if out.is_file() else ""
    kept = old[old.index("## " + CLUSTERS):] if cmd is None and "## " + CLUSTERS in old else cmd or ""
    write_text(out, md + ("\n" + kept if kept else ""))
    if args.benchmarks:
        from common import write_section

        write_section("Activity detector" + (suffix or " ("), md)
        if cmd:
            write_section(CLUSTERS + (suffix or " ("), cmd)


def cluster_section(crows: list[dict], args, line: str, wall: float, suffix: str = "") -> str:
    text = [f"## {CLUSTERS}{suffix} ({line})", "",
            f"`python bench/detector.py --cluster{noise_args(args)}` (the recordings above: {args.recordings} x {args.minutes:g} min "
            f"per SNR). Each SNR's recordings are clustered once as fixed windows and once per detector by cluster.py's own route "
            f"(`audioclust.embed`: data config, Lightning predict; `audioclust.cluster`: preprocess l2, FAISS k-means, "
            f"conf/cluster.yaml defaults) with the "
            f"pretrained encoder `encoder={args.encoder}` (no training per SNR): **fixed windows** "
            f"(`data.clip_seconds={args.clip:g} data.hop_seconds={args.hop:g}`, every window of the recording) "
            f"and the **events** of each detector (the same plus `data/segment=NAME`, "
            f"{' and '.join(f'`{d}`' for d in args.cluster_detectors)}, with their 0.1 s padding; a window centred "
            "on each event). k = the event classes present + 1 (background): 10 digits, "
            "the drum classes, background. A window's label is the class of the placed clip it overlaps most "
            "(digit 0-9 or drum class), when the overlap is at least min(0.1 s, half the clip), else "
            f"`background`. Scores are means over k-means seeds {args.cluster_seeds}.", "",
            "Columns: **windows** (of them at events); **NMI / ACC all**: every window, background a class of "
            "its own; **NMI / ACC events**: only the windows at events (their clusters from the same "
            "clustering); **background clusters**: share of clusters whose largest label is background; "
            "**events reached**: share of the placed clips with at least one window at them; **embedding s**: the "
            "`audioclust.embed` call (the encoder's load included).", "",
            "| SNR (dB) | windows | windows at events | k | NMI all | ACC all | NMI events | ACC events | "
            "background clusters | events reached | embedding s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in crows:
        text.append(f"| {r['snr']:g} {r['mode']} | {r['windows']:.0f} | {r['event_windows']:.0f} "
                    f"({100 * r['event_windows'] / r['windows']:.0f}%) | {r['k']} | {r['nmi']:.3f} | {r['acc']:.3f} "
                    f"| {r['nmi_ev']:.3f} ± {r['nmi_sd']:.3f} | {r['acc_ev']:.3f} | {100 * r['bg_clusters']:.0f}% "
                    f"| {100 * r['events_seen']:.0f}% | {r['embed_s']:.0f} |")
    text += ["", f"Whole run (recordings, detection scores above, embedding, clustering): {wall / 60:.1f} min.", ""]
    return "\n".join(text)


if __name__ == "__main__":
    main()
