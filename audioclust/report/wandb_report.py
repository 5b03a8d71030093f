"""What a cluster run logs to W&B beyond its scores: the 2-D map as a scatter plot, a table of clips
(audio, spectrogram, cluster, distance, label, map position) and the clusters as an artifact.

The same calls work offline (the default here; `wandb sync` uploads later) and online.
"""
from __future__ import annotations

import io as _io
from pathlib import Path

import numpy as np

from audioclust.report.sample import stratified_sample

CLIP_COLUMNS = ["path", "offset", "cluster", "distance", "label", "x", "y", "audio", "spectrogram"]


def table_rows(clusters, dists, max_rows: int, seed: int = 0) -> np.ndarray:
    """Which clips go into the table: all of them up to max_rows, else a seeded sample stratified by cluster
    (every cluster keeps its share, at least one clip); ordered by cluster, then distance to the centroid."""
    clusters, dists = np.asarray(clusters), np.asarray(dists, dtype=np.float64)
    pick = stratified_sample(clusters, max_rows, seed)
    return pick[np.lexsort((dists[pick], clusters[pick]))]


def _png_image(wandb, spec: np.ndarray, caption: str):
    from PIL import Image

    from audioclust.report.explorer import spectrogram_png

    return wandb.Image(Image.open(_io.BytesIO(spectrogram_png(spec))), caption=caption)


def clips_table(wandb, rows, xy: np.ndarray, pick, waves, specs, sr: int):
    """wandb.Table with one row per picked clip (indices into rows, a report.outputs.Rows); xy (map points),
    waves and specs are aligned with pick."""
    table = wandb.Table(columns=CLIP_COLUMNS)
    for j, (i, wave, spec) in enumerate(zip(pick, waves, specs)):
        i = int(i)
        path = rows.path(i)
        name = Path(path).name
        audio = wandb.Audio(np.asarray(wave, np.float32), sample_rate=sr, caption=name)
        table.add_data(path, round(float(rows.offsets[i]), 3), int(rows.clusters[i]), round(float(rows.dists[i]), 5),
                       rows.label(i), float(xy[j, 0]), float(xy[j, 1]), audio, _png_image(wandb, spec, name))
    return table


def map_plot(wandb, xy: np.ndarray, clusters, method: str):
    """The 2-D map as a W&B scatter chart (x, y, cluster per clip)."""
    table = wandb.Table(columns=["x", "y", "cluster"],
                        data=[[float(a), float(b), int(c)] for (a, b), c in zip(xy, clusters)])
    return wandb.plot.scatter(table, "x", "y", title=f"clips ({method.upper()} of the embeddings), by cluster")


def clusters_artifact(wandb, out: Path, name: str, metadata: dict):
    """assignments.csv, centroids.npy (fit) and metrics.json as one artifact of type 'clusters'."""
    art = wandb.Artifact(name, type="clusters", metadata=metadata)
    for fname in ("assignments.csv", "centroids.npy", "metrics.json", "preprocess.npz"):
        if (out / fname).is_file():
            art.add_file(str(out / fname), name=fname)
    return art


def model_artifact_of(run_dir: Path) -> dict | None:
    """The training run's W&B model artifact (name, sha256 of model.pt), when it logged one and model.pt is
    still the file it logged; None otherwise."""
    import json

    from audioclust import io

    path = run_dir / "model_artifact.json"
    if not path.is_file():
        return None
    info = json.loads(path.read_text())
    return info if info.get("sha256") == io.sha256(run_dir / "model.pt") else None
