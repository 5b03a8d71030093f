"""PNG report next to the results: 2-D map, cluster sizes, spectrogram montage per cluster."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from audioclust.io import atomic_path  # noqa: E402


def _save(fig, path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def project_2d(x: np.ndarray, max_points: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA to 2-D of at most max_points rows (seeded sample); returns (indices, coords)."""
    idx = np.arange(len(x))
    if len(x) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
    if x.shape[1] < 2 or len(idx) < 2:
        return idx, np.c_[x[idx, :1], np.zeros(len(idx))]
    return idx, PCA(2, random_state=seed).fit_transform(x[idx])


def plot_map(embeddings, clusters, path, title: str = "") -> None:
    idx, xy = project_2d(np.asarray(embeddings))
    fig, ax = plt.subplots(figsize=(7, 6))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=np.asarray(clusters)[idx], cmap="tab20", s=8, alpha=0.8)
    fig.colorbar(sc, ax=ax, label="cluster")
    ax.set(title=title or "clips (PCA of embeddings)", xlabel="PC 1", ylabel="PC 2")
    _save(fig, path)


def plot_sizes(clusters, path) -> None:
    sizes = np.bincount(np.asarray(clusters))
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(sizes)), 3))
    ax.bar(np.arange(len(sizes)), sizes, color="tab:blue")
    ax.set(xlabel="cluster", ylabel="clips", title="cluster sizes")
    _save(fig, path)


def pick_examples(distances, clusters, n: int = 6) -> dict[int, list[int]]:
    """Per cluster, the indices of the n clips closest to its centroid (the most typical)."""
    distances, clusters = np.asarray(distances), np.asarray(clusters)
    out = {}
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        out[int(c)] = members[np.argsort(distances[members], kind="stable")[:n]].tolist()
    return out


def plot_montage(spectrograms_by_cluster: dict, path, max_per_cluster: int = 6) -> None:
    if not spectrograms_by_cluster:
        raise ValueError("plot_montage needs at least one cluster with example spectrograms")
    keys = sorted(spectrograms_by_cluster)
    cols = max(1, min(max_per_cluster, max(len(v) for v in spectrograms_by_cluster.values())))
    fig, axes = plt.subplots(len(keys), cols, figsize=(1.6 * cols + 1, 1.2 * len(keys) + 0.5), squeeze=False)
    for r, c in enumerate(keys):
        specs = spectrograms_by_cluster[c][:cols]
        for j, ax in enumerate(axes[r]):
            ax.set_xticks([]), ax.set_yticks([])
            if j < len(specs):
                ax.imshow(specs[j], origin="lower", aspect="auto", cmap="magma")
        axes[r][0].set_ylabel(f"cluster {c}", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("most typical clips per cluster (log spectrograms)")
    fig.tight_layout()
    _save(fig, Path(path))
