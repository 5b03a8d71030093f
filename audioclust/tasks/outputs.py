"""What a cluster run writes besides arrays: assignment rows, the skipped list, plots, the W&B run."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from audioclust.utils import is_rank_zero, sweep_group

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


def map_coords(cfg, z) -> tuple[np.ndarray | None, str]:
    """The 2-D map of every clip (explorer and W&B share it); None when neither wants it."""
    rep = cfg.report
    if not rep.get("explorer", False) and not (cfg.wandb.enabled and is_rank_zero()):
        return None, ""
    from audioclust.cluster.explorer import map_2d

    return map_2d(z, rep.get("explorer_map", "auto"), int(rep.get("explorer_umap_min", 200)), seed=int(cfg.seed))


def _clips(model, dm, sample_ids, idx: list[int]):
    """(waves, spectrograms) of the samples at positions idx, in bounded batches."""
    from audioclust.cluster.embed import clips

    waves, specs = [], []
    for start in range(0, len(idx), 64):
        w, s = clips(model, dm, sample_ids[idx[start:start + 64]])
        waves += w
        specs += s
    return waves, specs


def write_explorer(cfg, out: Path, model, dm, view: dict) -> Path | None:
    """explorer.html (report.explorer): map, per-cluster typical/atypical clips with thumbnails, confusion.

    view: rows, clusters, dists, sample_ids, scores, xy, method of the run."""
    rep, rows = cfg.report, view["rows"]
    if not rep.get("explorer", False) or not len(rows):
        return None
    from audioclust.cluster import explorer

    picks = explorer.pick_extremes(view["dists"], view["clusters"], int(rep.examples_per_cluster),
                                   int(rep.get("explorer_atypical", 3)))
    idx = sorted({i for typ, atyp in picks.values() for i in typ + atyp})
    specs = dict(zip(idx, _clips(model, dm, view["sample_ids"], idx)[1]))
    data = explorer.page_data(
        view["xy"], view["clusters"], view["dists"], [r["path"] for r in rows], [r["offset"] for r in rows],
        [r["label"] for r in rows], out, picks=picks, thumbs=explorer.write_thumbnails(out, specs),
        scores=view["scores"], clip_seconds=float(dm.clip_seconds), windows=dm.hop_seconds is not None,
        method=view["method"], title=f"{Path(str(cfg.run_dir)).name} / {cfg.mode}",
        embed_audio_mb=float(rep.get("explorer_embed_audio_mb", 0)))
    path = explorer.write_page(out, data)
    print(f"explorer: {path} (open it in a browser: map, listen, typical clips per cluster)")
    return path


def log_wandb(cfg, out: Path, plots: dict, model, dm, view: dict) -> None:
    """Scores, plots, the map as a scatter chart, a table of clips (audio, spectrogram, cluster, distance)
    and the clusters as an artifact. Offline by default; rank 0 only; in a multirun, one group per sweep."""
    if not cfg.wandb.enabled or not is_rank_zero():
        return
    import wandb

    from audioclust.cluster import wandb_report as wr

    scores, sweep = view["scores"], sweep_group()
    run = wandb.init(project=cfg.wandb.project, group=cfg.wandb.group or (sweep[0] if sweep else None),
                     job_type=cfg.mode, dir=str(out),
                     mode="offline" if cfg.wandb.offline else "online",
                     config=OmegaConf.to_container(cfg, resolve=True), reinit="finish_previous")
    run.log({f"cluster/{k}": v for k, v in scores.items() if isinstance(v, (int, float)) and v is not None})
    run.log({f"cluster/{name}": wandb.Image(str(p)) for name, p in plots.items()})
    if view.get("xy") is not None and len(view["rows"]):
        run.log({"cluster/map_scatter": wr.map_plot(wandb, view["xy"], view["clusters"], view["method"])})
        pick = wr.table_rows(view["clusters"], view["dists"], int(cfg.wandb.get("max_table_rows", 200)),
                             int(cfg.seed))
        waves, specs = _clips(model, dm, view["sample_ids"], [int(i) for i in pick])
        run.log({"cluster/clips": wr.clips_table(wandb, view["rows"], view["xy"], pick, waves, specs, int(dm.sr))})
    if cfg.wandb.get("artifact", True):
        model_art = wr.model_artifact_of(Path(cfg.run_dir))
        if model_art and not cfg.wandb.offline:  # lineage: the training run's model -> these clusters
            run.use_artifact(f"{model_art['name']}:latest")   # (W&B refuses use_artifact offline)
        run.log_artifact(wr.clusters_artifact(wandb, out, f"clusters-{cfg.mode}-{run.id}",
                                              {"k": scores.get("k"), "run_dir": str(cfg.run_dir),
                                               "model_artifact": model_art}))
    run.finish()
