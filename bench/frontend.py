"""Front-end throughput: audioclust's on-the-fly blocks versus the origin's PNG route, same clips, one run.

    pip install -e ".[bench]"   # librosa, for the origin's route as it was
    python bench/frontend.py [--clips 512] [--batch 64] [--repeats 3]
Writes the table into BENCHMARKS.md (section 'Front end'). Uses FSDD from ../shared when present,
else the synthetic set. Each route runs --repeats times; the table gives the median rate.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from audioclust.data.audio import fit_length, list_audio_files, load  # noqa: E402
from audioclust.frontend import Frontend  # noqa: E402


def clips(n: int) -> tuple[list[str], int]:
    fsdd = ROOT.parent / "shared" / "data" / "fsdd" / "recordings"
    if fsdd.is_dir():
        return [str(p) for p in list_audio_files(fsdd)[:n]], 8000
    from audioclust.data.synthetic import generate

    return [str(p) for p in list_audio_files(generate(ROOT / ".cache" / "synthetic"))[:n]], 16000


def ours(paths, sr, batch) -> float:
    fe = Frontend(sr=sr, clip_seconds=1.0, norm="clip")
    t = time.perf_counter()
    for s in range(0, len(paths), batch):
        wave = torch.from_numpy(np.stack([fit_length(load(p, sr), sr) for p in paths[s:s + batch]]))
        with torch.no_grad():
            fe(wave)
    return len(paths) / (time.perf_counter() - t)


def png_route(paths, sr, tmp: Path) -> float:
    """The origin: librosa mel spectrogram per clip -> matplotlib PNG 288x432 saved to disk -> read back -> 6 blocks
    of 144x144x3. Without librosa installed, the mel comes from audioclust's Frontend instead (said in the table)."""
    mel = _librosa_mel(sr) or _torch_mel(sr)
    t = time.perf_counter()
    for i, p in enumerate(paths):
        spec = mel(fit_length(load(p, sr), sr))
        fig = plt.figure(figsize=(4.32, 2.88), dpi=100)
        plt.imshow(spec, origin="lower", aspect="auto")
        plt.axis("off")
        fig.savefig(tmp / f"{i}.png", format="png")
        plt.close(fig)
        img = plt.imread(tmp / f"{i}.png")[:288, :432, :3]
        _ = img.reshape(2, 144, 3, 144, 3).transpose(0, 2, 1, 3, 4)
    return len(paths) / (time.perf_counter() - t)


def _librosa_mel(sr):
    try:
        import librosa
    except ImportError:
        return None
    return lambda x: librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=sr, n_mels=128), ref=np.max)


def _torch_mel(sr):
    fe = Frontend(sr=sr, clip_seconds=1.0, n_mels=128, block_size=(64, 32))

    def mel(x):
        with torch.no_grad():
            return fe.spec(torch.from_numpy(x)[None]).log1p()[0].numpy()
    return mel


def librosa_route(paths, sr) -> float | None:
    """librosa mel per clip, no images (the issue's second reference)."""
    mel = _librosa_mel(sr)
    if mel is None:
        return None
    t = time.perf_counter()
    for p in paths:
        mel(fit_length(load(p, sr), sr))
    return len(paths) / (time.perf_counter() - t)


def training_path(n: int, batch: int, workers: int, cached: bool = False) -> float:
    """Clips/s of the project's real front end as training consumes it: the FSDD experiment's DataModule
    (decode, trim, crop/pad; DataLoader workers) and its Frontend (nnAudio mel, log, norm, stretch, blocks)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from audioclust.tasks.builders import build_model

    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=fsdd", f"data.batch_size={batch}", f"data.num_workers={workers}",
                                          f"data.max_files={n}", "data.val_fraction=0",
                                          f"data.cache_mb={1024 if cached else 0}",
                                          f"data.root={ROOT.parent / 'shared/data/fsdd/recordings'}"])
    dm, fe = instantiate(cfg.data), build_model(cfg).frontend
    dm.setup("fit")
    loader = dm.train_dataloader()
    if cached:  # a first epoch fills the cache of decoded clips; time the next, as every later epoch runs
        for _ in loader:
            pass
    t, seen = time.perf_counter(), 0
    for b in loader:
        with torch.no_grad():
            fe(b["wave"], b["length"])
        seen += len(b["wave"])
    return seen / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", type=int, default=512)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)  # on this shared CPU 1 intra-op thread was several times faster than 2
    paths, sr = clips(args.clips)
    med = lambda f: float(np.median([f() for _ in range(args.repeats)]))  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        png = med(lambda: png_route(paths[: min(len(paths), 128)], sr, Path(tmp)))
    how = "librosa mel" if _librosa_mel(sr) else "mel from audioclust's Frontend (librosa not installed)"
    rows = [(f"origin: {how} -> matplotlib PNG 288x432 saved to disk -> read back -> blocks", png)]
    if _librosa_mel(sr):
        rows.append(("librosa mel per clip, no images", med(lambda: librosa_route(paths, sr))))
    rows.append((f"nnAudio mel (n_fft 1024, 64 mels), decode, blocks (batch {args.batch})",
                 med(lambda: ours(paths, sr, args.batch))))
    if sr == 8000:  # FSDD: the real training path of experiment=fsdd
        for batch, workers, cached in ((64, 0, False), (256, 0, False), (256, 2, False), (64, 0, True),
                                       (256, 0, True), (256, 2, True)):
            how = "epochs after the first, decoded clips cached (data.cache_mb)" if cached else "decoding every clip"
            rows.append((f"training path, experiment=fsdd: DataModule + Frontend (torch.stft mel, log, norm, stretch, "
                         f"blocks), batch {batch}, {workers} loader workers, {how}",
                         med(lambda: training_path(len(paths), batch, workers, cached))))
    from common import machine, write_section

    table = [f"## Front end ({len(paths)} clips at {sr} Hz; {machine()})", "",
             f"Median of {args.repeats} runs, torch with 1 intra-op thread (faster than 2 on this shared CPU). The "
             "origin's way: 128 clips, each PNG written to a temporary folder and read back as the origin did. The "
             "training path is what `train.py experiment=fsdd` feeds the model: decoding (16-bit PCM WAV through the "
             "standard library's wave module, anything else through libsndfile), trimming, padding, then the "
             "spectrogram blocks; with data.cache_mb (default 512) every epoch after the first reads decoded clips "
             "from memory.", "",
             "| route | clips/s | vs origin |", "|---|---|---|"]
    table += [f"| {name} | {rate:,.1f} | {rate / png:.1f}x |" for name, rate in rows]
    write_section("Front end", "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
