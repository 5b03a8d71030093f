"""What a cluster run writes besides arrays: assignment rows, the skipped list, plots, the explorer, W&B.

Typed in, typed out: `ReportSettings` and `WandbSettings` (checked when built, from the `report` and `wandb`
config blocks) and a `ClusterResult`, never the raw config.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audioclust import checks
from audioclust.utils import is_rank_zero, sweep_group

log = logging.getLogger(__name__)

MAPS = ("auto", "umap", "pca")


@dataclass(frozen=True)
class ReportSettings:
    plots: bool = True
    examples_per_cluster: int = 6
    explorer: bool = True
    explorer_map: str = "auto"
    explorer_umap_min: int = 200
    explorer_atypical: int = 3
    explorer_embed_audio_mb: float = 0
    explorer_max_points: int = 20000
    explorer_neighbours: int = 8

    def __post_init__(self):
        checks.number("report.examples_per_cluster", self.examples_per_cluster, integer=True)
        checks.choice("report.explorer_map", self.explorer_map, MAPS)
        checks.number("report.explorer_umap_min", self.explorer_umap_min, strict=False, integer=True)
        checks.number("report.explorer_atypical", self.explorer_atypical, strict=False, integer=True)
        checks.number("report.explorer_embed_audio_mb", self.explorer_embed_audio_mb, strict=False)
        checks.number("report.explorer_max_points", self.explorer_max_points, integer=True)
        checks.number("report.explorer_neighbours", self.explorer_neighbours, strict=False, integer=True)


@dataclass(frozen=True)
class WandbSettings:
    enabled: bool = True
    mode: str = "offline"
    project: str = "audioclust"
    entity: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    max_table_rows: int = 200
    artifact: bool = True

    def __post_init__(self):
        checks.choice("wandb.mode", self.mode, ("offline", "online", "disabled"))
        checks.number("wandb.max_table_rows", self.max_table_rows, strict=False, integer=True)

    @classmethod
    def from_config(cls, w, tags=()) -> WandbSettings:
        extra = [t for t in str(w.get("tags") or "").split(",") if t] if isinstance(w.get("tags"), str) \
            else list(w.get("tags") or [])
        return cls(bool(w.enabled), str(w.mode), str(w.project), w.get("entity"), w.get("group"),
                   tuple(dict.fromkeys([*tags, *extra])), int(w.max_table_rows), bool(w.artifact))

    @property
    def active(self) -> bool:
        return self.enabled and self.mode != "disabled" and is_rank_zero()


@dataclass(frozen=True)
class Rows:
    """assignments.csv as columns, one entry per embedded sample: file id, offset, cluster, distance (labels per
    file). No object per row, so a million rows stay small (BENCHMARKS.md "Scaling")."""
    files: list[str]          # the index's usable files
    file_ids: np.ndarray      # per row: index into files
    offsets: np.ndarray       # per row: window start in its file, seconds
    clusters: np.ndarray
    dists: np.ndarray
    file_labels: list         # per file: the true label, or None
    names: dict = field(default_factory=dict)   # cluster -> its curated name (mode=assign of a curated fit)

    FIELDS = ("path", "offset", "cluster", "distance", "label")

    def __len__(self) -> int:
        return len(self.file_ids)

    def path(self, i: int) -> str:
        return self.files[int(self.file_ids[i])]

    def name(self, i: int) -> str:
        return self.names.get(int(self.clusters[i]), "")

    @property
    def fields(self) -> list[str]:
        """assignments.csv's columns: FIELDS, and `name` when the clusters have curated names."""
        return [*self.FIELDS, "name"] if self.names else list(self.FIELDS)

    def label(self, i: int) -> str | None:
        v = self.file_labels[int(self.file_ids[i])]
        return None if v is None or v == "" else v

    @property
    def paths(self) -> list[str]:
        return [self.files[f] for f in self.file_ids.tolist()]   # references to the files' strings, 8 B a row

    @functools.cached_property
    def labels(self) -> list | None:
        """The true label per row, None where there is none; None when no file has one (built once: the scores and the
        explorer read it)."""
        if all(v is None or v == "" for v in self.file_labels):
            return None
        per_file = [None if v == "" else v for v in self.file_labels]
        return [per_file[f] for f in self.file_ids.tolist()]

    def groupings(self, manifest: str | None = None) -> dict[str, list]:
        """Other groupings of the rows to score the clusters against: each row's folder, its file (when a file has
        several rows: windows of recordings) and every column of the label manifest (recording, site, date, ...)."""
        from audioclust.data.labels import manifest_columns

        folders = [str(Path(f).parent) for f in self.files]   # per file, then per row: no Path per row
        out = {"folder": [folders[f] for f in self.file_ids.tolist()]}
        if len(np.unique(self.file_ids)) < len(self.file_ids):
            out["file"] = self.paths
        for name, table in (manifest_columns(manifest) if manifest else {}).items():
            per_file = [table.get(str(Path(f).resolve())) for f in self.files]
            out[f"manifest:{name}"] = [per_file[f] for f in self.file_ids.tolist()]
        return out

    def write_csv(self, path, chunk: int = 1 << 16) -> None:
        """Streamed in chunks of rows: same text as one dict per row (offset to ms, distance to 5 decimals)."""
        from audioclust import io

        def lines():
            for a in range(0, len(self), chunk):
                b = min(a + chunk, len(self))
                fids = self.file_ids[a:b].tolist()
                clusters = self.clusters[a:b].astype(np.int64).tolist()
                yield from zip([self.files[f] for f in fids],
                               np.round(self.offsets[a:b].astype(np.float64), 3).tolist(), clusters,
                               np.round(self.dists[a:b].astype(np.float64), 5).tolist(),
                               ["" if self.file_labels[f] is None else self.file_labels[f] for f in fids],
                               *([[self.names.get(c, "") for c in clusters]] if self.names else []))

        io.write_csv_rows(path, self.fields, lines())


TABLE_BYTES = 64 << 20   # write_table: the rows of one row group hold about this many bytes of embeddings


def write_table(path, rows: Rows, seconds, embeddings) -> None:
    """clusters.parquet: assignments.csv joined with each row's duration (seconds it stands for) and its embedding,
    one table in one open format: path, offset, duration, cluster, distance, label ("" where none; the columns of
    Embeddings.to_arrow, and their types) and `vector`, a fixed-size list of float32. Streamed in row groups of
    about TABLE_BYTES of embeddings (a memory-mapped embeddings.npy is read through, never whole); atomic."""
    import pyarrow as pa

    from audioclust import io

    d = int(np.prod(embeddings.shape[1:])) if embeddings.ndim > 1 else 1
    schema = pa.schema([("path", pa.string()), ("offset", pa.float64()), ("duration", pa.float64()),
                        ("cluster", pa.int64()), ("distance", pa.float64()), ("label", pa.string()),
                        ("vector", pa.list_(pa.float32(), d))] + ([("name", pa.string())] if rows.names else []))
    seconds, step = np.asarray(seconds, np.float64), max(1024, TABLE_BYTES // (4 * d))
    labels = ["" if v is None else str(v) for v in rows.file_labels]

    def batches():
        for a in range(0, len(rows), step):
            b = min(a + step, len(rows))
            fids = rows.file_ids[a:b].tolist()
            yield pa.record_batch([pa.array([rows.files[f] for f in fids], pa.string()),
                                   pa.array(np.asarray(rows.offsets[a:b], np.float64)), pa.array(seconds[a:b]),
                                   pa.array(np.asarray(rows.clusters[a:b], np.int64)),
                                   pa.array(np.asarray(rows.dists[a:b], np.float64)),
                                   pa.array([labels[f] for f in fids], pa.string()),
                                   io.vector_column(np.asarray(embeddings[a:b]).reshape(b - a, d)),
                                   *([pa.array([rows.names.get(int(c), "") for c in rows.clusters[a:b]], pa.string())]
                                     if rows.names else [])], schema=schema)

    io.write_parquet(path, schema, batches())


@dataclass
class ClusterResult:
    """One cluster run's outcome, row-aligned: every embedded sample with its cluster and distance; the map
    points (xy) of the drawn ones (sorted row indices) and the clips of the explorer's cluster cards (picks)."""
    rows: Rows
    sample_ids: np.ndarray
    scores: dict
    xy: np.ndarray | None = None
    method: str = ""
    drawn: np.ndarray | None = None
    picks: dict | None = None
    skipped: list[dict] = field(default_factory=list)

    @property
    def clusters(self) -> np.ndarray:
        return self.rows.clusters

    @property
    def dists(self) -> np.ndarray:
        return self.rows.dists


def assignment_rows(index, sample_ids, ok, clusters, dists) -> tuple[Rows, list[dict]]:
    """One row per embedded sample; every file that produced none is listed in `skipped` with a reason."""
    sids = np.asarray(sample_ids)[ok]
    fids = np.asarray(index.file_ids)[sids].astype(np.int64)
    rows = Rows(index.files, fids, np.asarray(index.offsets)[sids], np.asarray(clusters), np.asarray(dists),
                index.labels)
    skipped = [{"path": p, "reason": r} for p, r in index.skipped]
    placed = np.zeros(len(index.files), bool)
    placed[fids] = True
    skipped += [{"path": index.files[i], "reason": "could not be decoded"} for i in np.flatnonzero(~placed)]
    return rows, skipped


def write_tables(out: Path, rows: Rows, skipped: list[dict], segments, embeddings, scores: dict, seconds=None) -> None:
    """assignments.csv, skipped.csv, segments.csv (with a detector: every second of every recording, event or
    quiet, with the reason), embeddings.npy, metrics.json and (given each row's `seconds`) clusters.parquet."""
    from audioclust import io

    rows.write_csv(out / "assignments.csv")
    scores["fit_id"] = fit_id(out / "assignments.csv")
    if seconds is not None:
        write_table(out / "clusters.parquet", rows, seconds, embeddings)
    io.write_csv(out / "skipped.csv", skipped, ["path", "reason"])
    if segments:
        io.write_csv_rows(out / "segments.csv", ["path", "start", "end", "kind", "reason"],
                          ((p, round(a, 6), round(b, 6), k, r) for p, a, b, k, r in segments))
    io.write_npy(out / "embeddings.npy", embeddings)
    io.write_json(out / "metrics.json", scores)


def fit_id(assignments: Path) -> str:
    """16 hex digits naming a fit (or an assign run): the SHA-256 of its assignments.csv (rows, clusters, distances),
    in metrics.json and the explorer; a curation.json made on one fit is refused by another."""
    h = hashlib.sha256()
    with open(assignments, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def write_plots(settings: ReportSettings, out: Path, model, dm, z, result: ClusterResult) -> dict:
    if not settings.plots:
        return {}
    from audioclust.embed.inference import spectrograms
    from audioclust.report import plots as report

    clusters = result.clusters
    paths = {"map": out / "map.png", "sizes": out / "sizes.png", "montage": out / "montage.png"}
    n_noise = int((clusters < 0).sum())
    report.plot_map(z, clusters, paths["map"], title=f"{len(z)} clips, k={int(clusters.max()) + 1}"
                    + (f", {n_noise} noise" if n_noise else ""))
    report.plot_sizes(clusters, paths["sizes"])
    picks = report.pick_examples(result.dists, clusters, settings.examples_per_cluster)
    picks.pop(-1, None)   # noise has no typical clips: the montage leaves it out (the explorer lists it)
    specs = {c: spectrograms(model, dm, result.sample_ids[idx]) for c, idx in picks.items() if len(idx)}
    sizes = {int(c): int((clusters == c).sum()) for c in specs}
    report.plot_montage(specs, paths["montage"], settings.examples_per_cluster, sizes=sizes)
    return paths


def map_coords(settings: ReportSettings, wandb: WandbSettings, z, result: ClusterResult,
               seed: int, gpu="auto") -> tuple[np.ndarray | None, np.ndarray | None, dict | None, str]:
    """The 2-D map the explorer and W&B share: (drawn rows, their coordinates, the explorer's card clips, the
    method); Nones when neither wants it. At most report.explorer_max_points clips are drawn (a seeded sample
    stratified by cluster, noise included) plus the cards' clips, and only those get coordinates, so the map
    costs the same for 1M clips as for 20,000. gpu: where FAISS finds the map's UMAP neighbours (the run's kmeans.gpu)."""
    if not settings.explorer and not wandb.active:
        return None, None, None, ""
    from audioclust.report.explorer import map_2d, pick_extremes
    from audioclust.report.sample import stratified_sample

    picks = pick_extremes(result.dists, result.clusters, settings.examples_per_cluster, settings.explorer_atypical)
    shown = [i for typ, atyp in picks.values() for i in typ + atyp] if settings.explorer else []
    drawn = np.union1d(stratified_sample(result.clusters, settings.explorer_max_points, seed),
                       np.asarray(shown, np.int64))
    xy, method = map_2d(np.asarray(z[drawn]), settings.explorer_map, settings.explorer_umap_min, seed=seed, gpu=gpu)
    return drawn, xy, picks, method


def _clips(model, dm, sample_ids, idx: list[int]):
    """(waves, spectrograms) of the samples at positions idx, in bounded batches."""
    from audioclust.embed.inference import clips

    waves, specs = [], []
    for start in range(0, len(idx), 64):
        w, s = clips(model, dm, sample_ids[idx[start:start + 64]])
        waves += w
        specs += s
    return waves, specs


def write_explorer(settings: ReportSettings, out: Path, model, dm, result: ClusterResult, title: str,
                   embeddings=None) -> Path | None:
    """explorer.html: map, per-cluster typical/atypical clips with thumbnails, confusion, and each drawn clip's
    report.explorer_neighbours nearest drawn clips by the search engine, over the rows of `embeddings` (default: the
    run's embeddings.npy, memory-mapped: the set audioclust-search searches)."""
    rows = result.rows
    if not settings.explorer or not len(rows):
        return None
    from audioclust.report import explorer

    picks = result.picks
    idx = sorted({i for typ, atyp in picks.values() for i in typ + atyp})
    specs = dict(zip(idx, _clips(model, dm, result.sample_ids, idx)[1]))
    similar = None
    if settings.explorer_neighbours > 0:
        x = np.load(out / "embeddings.npy", mmap_mode="r", allow_pickle=False) if embeddings is None else embeddings
        similar = explorer.neighbours(np.asarray(x[result.drawn]).reshape(len(result.drawn), -1), settings.explorer_neighbours)
    data = explorer.page_data(
        result.xy, result.clusters, result.dists, rows.paths, rows.offsets, rows.labels or [None] * len(rows), out,
        drawn=result.drawn, picks=picks, thumbs=explorer.write_thumbnails(out, specs),
        scores=result.scores, clip_seconds=float(dm.index.windowing.clip_seconds),
        windows=dm.index.windowing.window_rows(dm.index.durations),
        method=result.method, title=title, embed_audio_mb=float(settings.explorer_embed_audio_mb), similar=similar)
    path = explorer.write_page(out, data)
    print(f"explorer: {path} (open it in a browser: map, listen, typical clips per cluster)")
    return path


def log_wandb(w: WandbSettings, out: Path, plots: dict, model, dm, result: ClusterResult, *, job_type: str,
              config: dict, run_dir: Path | None, seed: int) -> None:
    """Scores, plots, the map as a scatter chart, a table of clips (audio, spectrogram, cluster, distance)
    and the clusters as an artifact. Rank 0 only; grouped with the training run (or the sweep) it came from."""
    if not w.active:
        return
    import wandb

    from audioclust.report import wandb_report as wr

    scores, sweep = result.scores, sweep_group()
    run = wandb.init(project=w.project, entity=w.entity, group=w.group or (sweep[0] if sweep else None),
                     job_type=job_type, dir=str(out), mode=w.mode, tags=list(w.tags) or None, config=config,
                     reinit="finish_previous")
    run.log({f"cluster/{k}": v for k, v in scores.items() if isinstance(v, (int, float)) and v is not None})
    run.log({f"cluster/by/{g}/{k}": v for g, s in scores.get("by", {}).items() for k, v in s.items() if v is not None})
    run.log({f"cluster/{name}": wandb.Image(str(p)) for name, p in plots.items()})
    if result.xy is not None and len(result.rows):
        drawn = result.drawn   # the map's clips (a stratified sample of at most report.explorer_max_points)
        run.log({"cluster/map_scatter": wr.map_plot(wandb, result.xy, result.clusters[drawn], result.method)})
        at = wr.table_rows(result.clusters[drawn], result.dists[drawn], w.max_table_rows, seed)   # among the drawn
        waves, specs = _clips(model, dm, result.sample_ids, [int(i) for i in drawn[at]])
        run.log({"cluster/clips": wr.clips_table(wandb, result.rows, result.xy[at], drawn[at], waves, specs,
                                                 int(dm.sr))})
    if w.artifact:
        model_art = wr.model_artifact_of(run_dir) if run_dir is not None else None   # None: a pretrained encoder
        if model_art and w.mode == "online":  # lineage: the training run's model -> these clusters
            run.use_artifact(f"{model_art['name']}:latest")   # (W&B refuses use_artifact offline)
        run.log_artifact(wr.clusters_artifact(wandb, out, f"clusters-{job_type}-{run.id}",
                                              {"k": scores.get("k"), "run_dir": run_dir and str(run_dir),
                                               "model_artifact": model_art}))
    run.finish()
