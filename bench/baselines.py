"""Classic label-free features for bench/quality.py: the reference points of BASELINES.md, re-measured.

Each feature function takes decoded clips and returns one row per clip; `cluster_scores` runs the same
FAISS k-means that cluster.py uses (z-score first; PCA / UMAP where the method says so) for several seeds.
"""
from __future__ import annotations

import numpy as np
import torch
from nnAudio import features

from audioclust.cluster.kmeans import assign, fit_kmeans
from audioclust.cluster.metrics import clustering_scores
from audioclust.cluster.reduce import Reducer
from audioclust.data.audio import fit_length, load, trim_silence


def decode(paths, sr: int, trim_db: float | None = None) -> list[np.ndarray]:
    """Mono float32 clips at `sr` (at most 1 s, as the pipeline reads them), optionally silence-trimmed."""
    clips = [load(str(p), sr, 0.0, 1.0) for p in paths]
    return [trim_silence(x, sr, trim_db) if trim_db else x for x in clips]


def _mfcc(sr: int, hop: int) -> torch.nn.Module:
    n_fft = 256 if sr <= 8000 else 512
    return features.MFCC(sr=sr, n_mfcc=20, n_fft=n_fft, hop_length=hop, n_mels=40, verbose=False)


def mfcc_stats(clips, sr: int) -> np.ndarray:
    """MFCC (20) mean and standard deviation over each clip's frames."""
    mfcc = _mfcc(sr, sr // 100)
    with torch.no_grad():
        rows = [mfcc(torch.from_numpy(fit_length(x, max(len(x), 400)))[None])[0] for x in clips]
    return np.stack([np.concatenate([m.mean(1).numpy(), m.std(1).numpy()]) for m in rows])


def mfcc_aligned(clips, sr: int, steps: int = 30) -> np.ndarray:
    """The strongest classic: MFCC (20, 10 ms hop) of trimmed clips, per-clip mean removed, each
    coefficient resampled to `steps` time steps (clips aligned in time), flattened."""
    mfcc = _mfcc(sr, sr // 100)
    out = []
    with torch.no_grad():
        for x in clips:
            m = mfcc(torch.from_numpy(fit_length(x, max(len(x), 400)))[None])[0]
            m = m - m.mean(1, keepdim=True)
            m = torch.nn.functional.interpolate(m[None], size=steps, mode="linear", align_corners=True)[0]
            out.append(m.flatten().numpy())
    return np.stack(out)


def logmel_fixed(clips, sr: int, n_mels: int = 64) -> np.ndarray:
    """log-mel (64 bands) over a fixed 1 s (zero-padded / cropped), flattened."""
    mel = features.MelSpectrogram(sr=sr, n_fft=256 if sr <= 8000 else 1024, n_mels=n_mels,
                                  hop_length=sr // 64, verbose=False)
    wave = torch.from_numpy(np.stack([fit_length(x, sr) for x in clips]))
    with torch.no_grad():
        spec = torch.cat([mel(wave[i:i + 256]) for i in range(0, len(wave), 256)])
    return torch.log(spec.clamp_min(1e-6)).flatten(1).numpy()


def cluster_scores(x: np.ndarray, labels, k: int, seeds, reduce: str = "none") -> list[dict]:
    """z-score -> (PCA-50 | PCA-50 + UMAP-10) -> FAISS k-means, one score dict per seed."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    if reduce in ("pca", "umap"):
        x = Reducer("pca", dim=50).fit_transform(x)
    out = []
    for seed in seeds:
        z = Reducer("umap", dim=10, n_neighbors=30, seed=seed).fit_transform(x) if reduce == "umap" else x
        centroids = fit_kmeans(z.astype(np.float32), k, niter=50, nredo=3, seed=seed)
        clusters, _ = assign(z.astype(np.float32), centroids)
        out.append(clustering_scores(z, clusters, labels, seed=seed))
    return out


def chance_scores(labels, k: int, seeds) -> list[dict]:
    """Uniformly random cluster ids: the floor every method is compared with."""
    rng = [np.random.default_rng(s) for s in seeds]
    return [clustering_scores(np.zeros((len(labels), 1)), r.integers(0, k, len(labels)), labels) for r in rng]


METHODS = {
    "chance": None,
    "MFCC (20) mean+std, standardised, k-means": (mfcc_stats, None, "none"),
    "log-mel (64) over 1 s, PCA-50, k-means": (logmel_fixed, None, "pca"),
    "log-mel (64) over 1 s, PCA-50, UMAP-10, k-means": (logmel_fixed, None, "umap"),
    "trimmed 30 dB, MFCC per-clip mean removed, 30 steps, PCA-50, k-means": (mfcc_aligned, 30, "pca"),
    "the same, PCA-50, UMAP-10, k-means": (mfcc_aligned, 30, "umap"),
}
