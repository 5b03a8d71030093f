"""Where each pretrained encoder's embedding time goes (issue 26, goal 1: "profile each encoder and say where its
time goes"), on clips and on a long recording, through the public API as a user embeds.

    python bench/encoder_profile.py                      # aisfx, birdnet, speech, speaker; 100 drums + a 120 s file
    python bench/encoder_profile.py --encoders birdnet --clips 50 --long-seconds 60
    python bench/encoder_profile.py --threads 2 --encoders aisfx birdnet speech speaker mix   # both cores
    python bench/encoder_profile.py --encoders birdnet birdnet-kept aisfx aisfx-32 aisfx-64 speech speech-windows   # before

Per encoder and input: audioclust.embed (no store: everything embedded; mix: encoder=["aisfx", "birdnet"], the
general-sound recipe; mix-any: the four members of the any-sound recipe, whose consensus comes after embedding; birdnet-kept, birdnet-graph, aisfx-32, aisfx-64 and speech-windows: one change of before each,
BirdNET's shipped model with every tensor kept, BirdNET's spectrograms computed in its graph, aisfx's network in
float32 (at today's 8 blocks a forward), 64 blocks per forward, the speech model's shipped graph fed every 76-frame
window on its own, 8 a call, instead of each clip's whole mel sequence), the run's threads (--threads per process: 1
as the other benches, or the cores, what a run gets by default; its own section), one warm-up run on 2 files first
(model load, runtime planning: not counted), 3 timed runs, then one under cProfile. Seconds of audio per second of
embedding (the real-time factor: the timed runs' median wall time), a route of before's rows against its encoder's
now (the same bytes, or the largest difference), and the profiled time by where it is spent: each function's own
time (tottime) summed by
the package its code lives in (decoding: soundfile, av; resampling: soxr, scipy.signal; features: librosa, nnAudio,
numpy.fft; models: ai_edge_litert, onnxruntime, torch, and the waits on BirdNET's interpreters, which run in a
pool's threads with its numpy front end at 2 threads or more; the rest: python, numpy, audioclust). Input: --clips drum
one-shots (the drums set, ~/.cache/audioclust-data/drums) and one recording of --long-seconds made by concatenating
drum hits with silence (written to a temp folder; the data stays outside the repo).
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from common import machine, method_text, write_section

DRUMS = Path.home() / ".cache" / "audioclust-data" / "drums"
ENCODERS = ("aisfx", "birdnet", "speech", "speaker")
REPEATS = 3   # timed runs per encoder and input (their median), besides the warm-up and the profiled one
MIX = {"mix": ["aisfx", "birdnet"],   # encoder=mix's default members: the general-sound recipe
       "mix-any": ["aisfx", "birdnet", "speech", "speaker"]}   # the any-sound recipe's (its consensus: after embedding)
BEFORE = {   # the routes before, side by side: (encoder, its options); birdnet-kept is patched in (before())
    "birdnet-kept": ("birdnet", {}),
    "birdnet-graph": ("birdnet", {}),
    "aisfx-32": ("aisfx", {"precision": "32"}),
    "aisfx-64": ("aisfx", {"block_batch": 64}),
    "speech-windows": ("speech", {}),
}


@contextlib.contextmanager
def before(encoder: str):
    """birdnet-kept: BirdNET as it ran before 2026-12-06, the shipped model with every tensor kept
    (experimental_preserve_all_tensors) and the embedding read as the output's index - 1, its spectrograms computed
    in the graph. birdnet-graph: as it ran before 2026-12-07, the spectrograms computed in the graph (litert's
    reference kernels), not with numpy beside the cut graph (birdnet.cut_model). The other routes before are
    encoder options (BEFORE): aisfx's network in float32 (precision=32), 64 blocks per forward (block_batch=64; the
    same bytes as now). speech-windows: as it ran before 2026-12-07, openwakeword's shipped embedding graph fed each
    76-frame window on its own, 8 windows a call (the same bytes as the whole sequences now)."""
    import torch

    from audioclust.embed.encoders import birdnet, speech

    saved = birdnet.BirdnetEncoder.build_runtime, birdnet.cut_model
    saved_speech = speech.sequence_model, speech.SpeechEmbeddingEncoder.frames

    def windows(self, wave, lengths):   # the speech adapter's frames before 2026-12-07
        stack, counts = [], []
        lead, tail = int(speech.LEAD * self.sr), int(speech.TAIL * self.sr)
        for clip in self.clips(wave, lengths):
            x = clip.cpu().numpy()
            x = np.pad(x, (lead, tail + (-(lead + len(x) + tail)) % 160))
            spec = self.mel(self.pcm16(x))
            starts = range(0, spec.shape[0] - speech.WINDOW + 1, speech.STEP)
            stack += [spec[s:s + speech.WINDOW] for s in starts]
            counts.append(len(starts))
        batch = np.stack(stack)[..., None].astype(np.float32)
        out = [self.runtime.embedding.run(None, {"input_1": batch[k:k + 8]})[0] for k in range(0, len(batch), 8)]
        z = torch.from_numpy(np.concatenate(out).reshape(len(batch), -1))
        return speech.pad_frames(list(torch.split(z, counts)), self.embedding_dim)

    def kept(self):
        litert = self.need("ai_edge_litert.interpreter")
        with birdnet.native_stderr_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            it = litert.Interpreter(model_path=birdnet.model_path(), num_threads=birdnet.cpu_threads(self.threads),
                                    experimental_preserve_all_tensors=True)
            it.allocate_tensors()
        return birdnet.Litert(it, it.get_input_details()[0]["index"], it.get_output_details()[0]["index"] - 1)

    if encoder == "birdnet-kept":
        birdnet.BirdnetEncoder.build_runtime = kept
    if encoder == "speech-windows":
        speech.sequence_model = lambda path: path   # the shipped graph, fixed to 76-frame windows
        speech.SpeechEmbeddingEncoder.frames = windows
    if encoder == "birdnet-graph":
        birdnet.cut_model = lambda samples: (birdnet.embedding_model(birdnet.model_path()), None)   # the whole graph, fed the chunk
    try:
        yield
    finally:
        birdnet.BirdnetEncoder.build_runtime, birdnet.cut_model = saved
        speech.sequence_model, speech.SpeechEmbeddingEncoder.frames = saved_speech


GROUPS = [   # (label, substrings of the code's file path), first match wins
    ("decode (soundfile, av)", ("soundfile", "/av/", "_soundfile")),
    ("resample (soxr, scipy.signal, resampy)", ("soxr", "scipy/signal", "resampy", "torchaudio")),
    ("features (librosa, nnAudio)", ("librosa", "nnAudio", "numba")),
    ("model: litert (BirdNET)", ("ai_edge_litert",)),
    ("model: onnxruntime (speech)", ("onnxruntime", "openwakeword")),
    ("model: torch", ("torch/", "resemblyzer", "aisfx")),
    ("numpy", ("numpy/",)),
    ("audioclust", ("audioclust/",)),
    ("lightning, data loading", ("lightning", "pytorch_lightning")),
]


def group_of(filename: str, func: str) -> str:
    text = f"{filename} {func}"
    if filename == "~":   # a C function: name it by what it is
        for label, keys in GROUPS:
            if any(k.strip("/") in func for k in keys):
                return label
        if "invoke" in func or ("acquire" in func and "lock" in func):   # BirdNET's interpreters run in a pool's threads
            return "model: litert (BirdNET)"                                # (the profiled thread waits on them)
        if "run" in func and "onnx" in func.lower():
            return "model: onnxruntime (speech)"
        return "other (C builtins)"
    for label, keys in GROUPS:
        if any(k in text for k in keys):
            return label
    return "other (python)"


def inputs(tmp: Path, clips: int, long_seconds: float) -> dict[str, tuple[list[str], float]]:
    """(files, seconds of audio) for 'clips' and 'long'."""
    import soundfile as sf

    files = sorted(str(p) for p in DRUMS.rglob("*.wav"))
    rng = np.random.default_rng(0)
    pick = [files[i] for i in sorted(rng.choice(len(files), min(clips, len(files)), replace=False))]
    seconds = sum(sf.info(p).duration for p in pick)
    sr, parts, total = 48000, [], 0.0
    for p in pick:   # hits and silence until long_seconds
        x, s = sf.read(p, dtype="float32", always_2d=True)
        x = np.interp(np.arange(0, len(x), s / sr), np.arange(len(x)), x.mean(1)).astype(np.float32)
        parts += [x, np.zeros(int(sr * rng.uniform(0.2, 1.5)), np.float32)]
        total += (len(x) + len(parts[-1])) / sr
        if total >= long_seconds:
            break
    while total < long_seconds:
        parts += parts[:2]
        total += sum(len(q) for q in parts[:2]) / sr
    long = np.concatenate(parts)[:int(long_seconds * sr)]
    (tmp / "long").mkdir(exist_ok=True)
    sf.write(tmp / "long" / "recording.wav", long, sr)
    return {"clips": (pick, seconds), "long": ([str(tmp / "long" / "recording.wav")], len(long) / sr)}


def run(encoder: str, files: list[str]):
    import audioclust

    name, options = BEFORE.get(encoder, (MIX.get(encoder, encoder), None))
    with before(encoder):
        return audioclust.embed(files, encoder=name, encoder_options=options or None, progress=False)


def measure(encoder: str, files: list[str], seconds: float) -> dict:
    run(encoder, files[:2])   # warm-up: model load, runtime planning
    walls = []
    for _ in range(REPEATS):   # the median of REPEATS timed runs: one run on a shared host can be off by 2x
        t = time.perf_counter()
        emb = run(encoder, files)
        walls.append(time.perf_counter() - t)
    wall = float(np.median(walls))
    prof = cProfile.Profile()
    prof.enable()
    run(encoder, files)
    prof.disable()
    stats = pstats.Stats(prof).stats
    by = defaultdict(float)
    for (filename, _, func), (_, _, tottime, _, _) in stats.items():
        by[group_of(filename, func)] += tottime
    total = sum(by.values())
    return {"rows": len(emb), "seconds": seconds, "wall": wall, "rtf": seconds / wall, "profiled": total,
            "share": {k: v / total for k, v in sorted(by.items(), key=lambda kv: -kv[1])}, "vectors": emb.vectors}


def against_now(results: dict, enc: str, kind: str) -> str:
    """A route of before against its encoder now on the same input (both measured in this run): the same bytes, or
    the largest absolute difference of their rows; '-' for the encoders now."""
    base = BEFORE[enc][0] if enc in BEFORE else None
    if base is None or base not in results or kind not in results[base]:
        return "-"
    a, b = results[enc][kind]["vectors"], results[base][kind]["vectors"]
    if a.shape != b.shape:
        return f"shapes {a.shape} / {b.shape}"
    return "the same bytes" if np.array_equal(a, b) else f"max abs diff {np.abs(a - b).max():.1e}"


def title(threads: int) -> str:
    return "Where the encoders' time goes" + ("" if threads == 1 else f", {threads} threads")


def table(results: dict, args) -> str:
    lines = [f"## {title(args.threads)}", "",
             f"`python bench/encoder_profile.py --encoders {' '.join(args.encoders)} --clips {args.clips} --long-seconds "
             f"{args.long_seconds:g}{f' --threads {args.threads}' if args.threads != 1 else ''}`; {machine()}. " + method_text(__doc__), "",
             "| encoder | input | rows | audio (s) | embedding wall (s) | audio s per s | rows against now's | where the profiled time goes (own time, share) |",
             "|---|---|---|---|---|---|---|---|"]
    for enc, per in results.items():
        for kind, r in per.items():
            top = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["share"].items() if v >= 0.02)
            lines.append(f"| {enc} | {kind} | {r['rows']} | {r['seconds']:.1f} | {r['wall']:.1f} | {r['rtf']:.1f} | "
                         f"{against_now(results, enc, kind)} | {top} |")
    return "\n".join(lines) + "\n"


def input_args(doc: str, profile: bool = False) -> argparse.Namespace:
    """The options of the benches over these inputs (this one and bench/package_paths.py), parsed; this one's
    (profile) also take encoder=mix and --threads per process; else 1 thread."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoders", nargs="+", default=list(ENCODERS), choices=[*ENCODERS, *((*MIX, *BEFORE) if profile else ())])
    ap.add_argument("--clips", type=int, default=100)
    ap.add_argument("--long-seconds", type=float, default=120.0)
    if profile:
        ap.add_argument("--threads", type=int, default=1)
    else:
        ap.add_argument("--repeats", type=int, default=3, help="each path timed this many times, in turn; the median")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.threads = getattr(args, "threads", 1)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = input_args(__doc__, profile=True)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = inputs(Path(tmp), args.clips, args.long_seconds)
        for enc in args.encoders:
            for kind, (files, seconds) in data.items():
                results.setdefault(enc, {})[kind] = r = measure(enc, files, seconds)
                print(enc, kind, {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items() if k not in ("share", "vectors")},
                      {k: round(v, 3) for k, v in r["share"].items()}, flush=True)
    write_section(title(args.threads), table(results, args), args.out)


if __name__ == "__main__":
    main()
