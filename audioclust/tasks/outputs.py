"""What a cluster run writes besides arrays: assignment rows, the skipped list, plots, the W&B run."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from audioclust.utils import is_rank_zero

log = logging.getLogger(__name__)


def assignment_rows(index, sample_ids, ok, clusters, dists):
    """One row per embedded sample; every file that produced none is listed in `skipped` with a reason."""
    rows = []
    for sid, c, d in zip(sample_ids[ok], clusters, dists):
        fid = int(index.file_ids[sid])
        label = index.labels[fid]
        rows.append({"path": index.files[fid], "offset": round(float(index.offsets[sid]), 3),
                     "cluster": int(c), "distance": round(float(d), 5), "label": "" if label is None else label})
    skipped = [{"path": p, "reason": r} for p, r in index.skipped]
    placed = {int(index.file_ids[s]) for s in sample_ids[ok]}
    skipped += [{"path": f, "reason": "could not be decoded"} for i, f in enumerate(index.files) if i not in placed]
    return rows, skipped


def write_plots(cfg, out: Path, model, dm, x, clusters, dists, sample_ids) -> dict:
    if not cfg.report.plots:
        return {}
    from audioclust.cluster import report
    from audioclust.cluster.embed import spectrograms

    plots = {"map": out / "map.png", "sizes": out / "sizes.png", "montage": out / "montage.png"}
    report.plot_map(x, clusters, plots["map"], title=f"{len(x)} clips, k={int(clusters.max()) + 1}")
    report.plot_sizes(clusters, plots["sizes"])
    picks = report.pick_examples(dists, clusters, int(cfg.report.examples_per_cluster))
    specs = {c: spectrograms(model, dm, sample_ids[idx]) for c, idx in picks.items() if len(idx)}
    sizes = {int(c): int((clusters == c).sum()) for c in specs}
    report.plot_montage(specs, plots["montage"], int(cfg.report.examples_per_cluster), sizes=sizes)
    return plots


def write_explorer(cfg, out: Path, model, dm, z, clusters, dists, sample_ids, rows, scores) -> Path | None:
    """explorer.html (report.explorer): map, per-cluster typical/atypical clips with thumbnails, confusion."""
    rep = cfg.report
    if not rep.get("explorer", False) or not len(rows):
        return None
    from audioclust.cluster import explorer
    from audioclust.cluster.embed import spectrograms

    xy, method = explorer.map_2d(z, rep.get("explorer_map", "auto"), int(rep.get("explorer_umap_min", 200)),
                                 seed=int(cfg.seed))
    picks = explorer.pick_extremes(dists, clusters, int(rep.examples_per_cluster), int(rep.get("explorer_atypical", 3)))
    idx = sorted({i for typ, atyp in picks.values() for i in typ + atyp})
    specs = {}
    for start in range(0, len(idx), 64):  # bounded batches: k x examples clips can be many
        part = idx[start:start + 64]
        specs.update(zip(part, spectrograms(model, dm, sample_ids[part])))
    data = explorer.page_data(
        xy, clusters, dists, [r["path"] for r in rows], [r["offset"] for r in rows],
        [r["label"] for r in rows], out, picks=picks, thumbs=explorer.write_thumbnails(out, specs), scores=scores,
        clip_seconds=float(dm.clip_seconds), windows=dm.hop_seconds is not None, method=method,
        title=f"{Path(str(cfg.run_dir)).name} / {cfg.mode}")
    path = explorer.write_page(out, data)
    print(f"explorer: {path} (open it in a browser: map, listen, typical clips per cluster)")
    return path


def log_wandb(cfg, out: Path, scores: dict, plots: dict) -> None:
    """Offline by default; rank 0 only; the run is finished by the caller's run_task."""
    if not cfg.wandb.enabled or not is_rank_zero():
        return
    import wandb

    run = wandb.init(project=cfg.wandb.project, group=cfg.wandb.group, job_type=cfg.mode, dir=str(out),
                     mode="offline" if cfg.wandb.offline else "online",
                     config=OmegaConf.to_container(cfg, resolve=True), reinit="finish_previous")
    run.log({f"cluster/{k}": v for k, v in scores.items() if isinstance(v, (int, float)) and v is not None})
    run.log({f"cluster/{name}": wandb.Image(str(p)) for name, p in plots.items()})
    run.finish()
