"""PNG report next to the results: 2-D map, cluster sizes, spectrogram montage per cluster.

Noise (cluster -1, HDBSCAN): drawn grey under the clusters on the map, left out of the size bars (its count is in
the title) and out of the montage (cluster.py leaves it out: it has no typical clip).

Every figure is written atomically (io.atomic_path: temp .png in the same folder, then os.replace) and closed afterwards.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from audioclust import io  # noqa: E402

MAX_PIXELS = 30000  # keep either side of a figure well under matplotlib's 2**16 limit


def _save(fig, path, dpi: float = 110) -> None:
    """Write fig as PNG at path in one rename, so no reader ever sees half a file; always closes fig."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        width, height = fig.get_size_inches()
        dpi = min(dpi, MAX_PIXELS / max(width, height, 1e-9))
        with io.atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


NOISE_COLOUR = "#b0b0b0"


def _ids(clusters, n: int | None = None) -> np.ndarray:
    c = np.asarray(clusters).reshape(-1).astype(np.int64)
    if n is not None and len(c) != n:
        raise ValueError(f"{n} points but {len(c)} cluster ids")
    if len(c) and c.min() < -1:
        raise ValueError(f"cluster ids must be >= 0 (or -1: noise), got {int(c.min())}")
    return c


def project_2d(x: np.ndarray, max_points: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA to 2-D of at most max_points rows (seeded sample); returns (indices, coords (m, 2))."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    idx = np.arange(len(x))
    if len(x) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
    sub = x[idx]
    if sub.shape[1] < 2 or len(idx) < 2:
        return idx, np.c_[sub[:, :1] if sub.shape[1] else np.zeros((len(idx), 1)), np.zeros(len(idx))]
    return idx, PCA(2, random_state=seed).fit_transform(sub)


def plot_map(embeddings, clusters, path, title: str = "") -> None:
    """Scatter of the clips on the first two principal components, coloured by cluster."""
    x = np.asarray(embeddings)
    if len(x) == 0:
        raise ValueError("plot_map needs at least one embedding")
    full = _ids(clusters, len(x))
    idx, xy = project_2d(x)
    c = full[idx]
    noise = c < 0
    keys = np.unique(c[~noise])
    cmap = plt.get_cmap("tab20")
    fig, ax = plt.subplots(figsize=(7.5, 6))
    if noise.any():   # underneath, grey
        ax.scatter(xy[noise, 0], xy[noise, 1], color=NOISE_COLOUR, s=5, alpha=0.6,
                   label=f"noise (n={int((full < 0).sum())})")
    xy, c = xy[~noise], c[~noise]
    if len(keys) <= 20:  # one colour per cluster, named in a legend with its full size
        for i, k in enumerate(keys):
            m = c == k
            colour = cmap((2 * i) % 20 + (2 * i) // 20)  # dark shades of 10 hues first, then the light ones
            ax.scatter(xy[m, 0], xy[m, 1], color=colour, s=8, alpha=0.8, label=f"{k} (n={int((full == k).sum())})")
        ax.legend(title="cluster", fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:  # too many for a legend: colours repeat, a colourbar gives the id range
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap=cmap, s=6, alpha=0.8)
        fig.colorbar(sc, ax=ax, label="cluster")
        if noise.any():
            ax.legend(fontsize=7, loc="best")
    shown = "" if len(idx) == len(x) else f" ({len(idx)} of {len(x)} shown)"
    ax.set(title=(title or "clips (PCA of embeddings)") + shown, xlabel="PC 1", ylabel="PC 2")
    _save(fig, path)


def plot_sizes(clusters, path) -> None:
    """Bar chart of clips per cluster id 0..max (empty clusters show as gaps); noise (-1) has no bar, its count
    is in the title."""
    c = _ids(clusters)
    if len(c) == 0:
        raise ValueError("plot_sizes needs at least one cluster id")
    n_noise = int((c < 0).sum())
    sizes = np.bincount(c[c >= 0]) if n_noise < len(c) else np.zeros(0, np.int64)
    fig, ax = plt.subplots(figsize=(min(max(4, 0.35 * len(sizes)), 40), 3))
    ax.bar(np.arange(len(sizes)), sizes, color="tab:blue")
    extra = f"; {n_noise} noise clips ({100 * n_noise / len(c):.0f}%) not shown" if n_noise else ""
    ax.set(xlabel="cluster", ylabel="clips", title=f"cluster sizes ({len(c)} clips, {int((sizes > 0).sum())} "
                                                   f"non-empty of {len(sizes)}{extra})")
    if len(sizes) <= 40:
        ax.set_xticks(np.arange(len(sizes)))
    _save(fig, path)


def pick_examples(distances, clusters, n: int = 6) -> dict[int, list[int]]:
    """Per non-empty cluster (noise, -1, included when present), the indices of the n clips closest to its
    centroid (the most typical; for noise: the clips closest to any cluster)."""
    distances = np.asarray(distances, dtype=np.float64).reshape(-1)
    clusters = _ids(clusters, len(distances))
    out = {}
    for k in np.unique(clusters):
        members = np.flatnonzero(clusters == k)
        out[int(k)] = [int(i) for i in members[np.argsort(distances[members], kind="stable")[:max(n, 0)]]]
    return out


def _as_image(spec) -> np.ndarray:
    a = np.asarray(spec, dtype=np.float64)
    if a.ndim > 2:
        a = a.squeeze()
    if a.ndim != 2:
        raise ValueError(f"montage cells must be 2-D (freq x time), got shape {np.shape(spec)}")
    return a


def plot_montage(spectrograms_by_cluster: dict, path, max_per_cluster: int = 6, sizes: dict | None = None) -> None:
    """Grid with one row per cluster and up to max_per_cluster spectrograms (freq x time) in it.

    Rows are labelled "cluster k (n=...)", n being sizes[k] when given, else the examples passed;
    rows with fewer examples keep blank cells.
    """
    if not spectrograms_by_cluster:
        raise ValueError("plot_montage needs at least one cluster with example spectrograms")
    keys = sorted(spectrograms_by_cluster)
    images = {k: [_as_image(s) for s in list(spectrograms_by_cluster[k])[:max(int(max_per_cluster), 1)]]
              for k in keys}  # validate before any figure exists
    cols = max(1, min(int(max_per_cluster), max(len(v) for v in spectrograms_by_cluster.values())))
    row_h = 1.2 if len(keys) <= 40 else max(0.3, 48 / len(keys))
    fig, axes = plt.subplots(len(keys), cols, figsize=(1.6 * cols + 1.5, row_h * len(keys) + 0.6),
                             squeeze=False)
    for r, k in enumerate(keys):
        specs = images[k]
        for j, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(specs):
                ax.imshow(specs[j], origin="lower", aspect="auto", cmap="magma",
                          interpolation="nearest")
            elif j > 0:
                ax.axis("off")  # blank cell: the first column keeps its frame to carry the label
            else:
                for side in ax.spines.values():
                    side.set_visible(False)
        n = sizes[k] if sizes is not None and k in sizes else len(spectrograms_by_cluster[k])
        axes[r][0].set_ylabel(f"cluster {k} (n={int(n)})", rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("most typical clips per cluster (log spectrograms)")
    fig.tight_layout()
    _save(fig, path)


def plot_search(result: dict, path) -> None:
    rows = result["scores"]
    ks = [r["k"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, key, better in zip(axes, ("silhouette", "calinski_harabasz", "davies_bouldin"),
                               ("higher", "higher", "lower")):
        ax.plot(ks, [np.nan if r[key] is None else r[key] for r in rows], marker="o")
        ax.axvline(result["best_k"], color="tab:red", ls="--", lw=1)
        ax.set(xlabel="k", title=f"{key.replace('_', '-')} ({better} is better)")
    fig.suptitle(f"choosing k: picked k={result['best_k']} by {result['criterion']}")
    fig.tight_layout()
    _save(fig, path)
