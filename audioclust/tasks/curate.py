"""The curate task: a curation.json (made in the explorer, docs/curation.md) applied to a fit, written as a new fit
folder that mode=assign, search and the exports read like any other, with a `name` per row; then a linear probe on
the named clips writes predictions.csv and review_next.csv (what to listen to next).

    audioclust-curate fit_dir=<an audioclust-cluster fit folder> curation=curation.json
    audioclust-cluster ... mode=assign clusters_dir=<its output>      # new audio gets the names
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from audioclust import checks, io
from audioclust.api import npz_bytes
from audioclust.cluster.pipeline import Clusterer
from audioclust.curate import schema
from audioclust.curate.apply import apply_operations, curated_stage
from audioclust.curate.probe import fit_probe
from audioclust.errors import ConfigError
from audioclust.report.export import Assignment, export_all
from audioclust.report.outputs import fit_id
from audioclust.search.fit import read_fit

KEPT = ("encoder.json", "embeddings.npy", "skipped.csv", "segments.csv")   # copied as they are
FIELDS = ["path", "offset", "cluster", "distance", "label", "name"]


def curate(cfg: DictConfig) -> Path:
    fit_dir, out = Path(cfg.fit_dir), Path(cfg.paths.output_dir)
    review = checks.number("review", cfg.review, strict=False, integer=True)
    fit = read_fit(fit_dir)
    made = schema.load(cfg.curation, fit_id(fit_dir / "assignments.csv"), len(fit.path))
    clusterer = _clusterer(fit_dir, cfg.gpu)
    x = np.array(fit.vectors, np.float32)   # the fit's rows, preprocessed once (in place) for every step below
    p = clusterer.content.pre(x, out=x)
    z = clusterer.content.place(p)[2]   # every row where the fit placed it (after UMAP: its fitted row's place)
    try:
        curated = apply_operations(made.operations, fit.cluster, z, int(cfg.seed), cfg.gpu, *_prior(fit_dir, fit))
    except ValueError as e:
        raise ConfigError(f"{made.source}: {e}; nothing was written") from None
    placed = curated_stage(clusterer.content, p, z, curated.clusters, fit.cluster, made.operations)
    names = curated.row_name_list
    _write_fit(fit_dir, out, fit, z, curated, placed, names, clusterer, made)
    print(f"applied {len(curated.changes)} change(s) from {made.source}:")
    for line in curated.changes:
        print(f"  {line}")
    _exports(cfg, fit_dir, out, fit, curated, placed, names)
    _probe(out, fit, curated.clusters, p, names, review, int(cfg.seed), made.fit)
    print(f"curated fit: {out} (new audio: audioclust-cluster ... mode=assign clusters_dir={out})")
    return out


def _prior(fit_dir: Path, fit) -> tuple[dict[int, str], dict[int, str]]:
    """The names a fit already has (a curated fit, or one that inherited names): its clusters' (names.json) and its
    clips' own where they differ from their cluster's."""
    if not (fit_dir / "names.json").is_file():
        return {}, {}
    names = {int(c): n for c, n in json.loads((fit_dir / "names.json").read_text())["names"].items()}
    return names, {i: n for i, n in enumerate(fit.name) if n and n != names.get(int(fit.cluster[i]))}


def _clusterer(fit_dir: Path, gpu) -> Clusterer:
    if not (fit_dir / "preprocess.npz").is_file():
        raise ConfigError(f"fit_dir={fit_dir}: no preprocess.npz there (an audioclust-cluster mode=fit output folder has it)")
    clusterer = Clusterer.from_state(dict(np.load(fit_dir / "preprocess.npz", allow_pickle=False)), gpu)
    if clusterer.groups:
        raise ConfigError(f"fit_dir={fit_dir} co-clusters voice groups (voice=...): curating such a fit is not supported; "
                          "fit with voice=none to name its clusters")
    return clusterer


def _write_fit(fit_dir: Path, out: Path, fit, z, curated, placed, names, clusterer: Clusterer, made) -> None:
    """The curated fit: assignments.csv and clusters.parquet with names, centroids.npy, preprocess.npz (the state
    mode=assign reads), names.json, changes.txt, the curation applied, metrics.json; the rest copied."""
    io.write_csv_rows(out / "assignments.csv", FIELDS,
                      ([fit.path[i], fit.offset[i], int(curated.clusters[i]), round(float(placed.distances[i]), 5),
                        fit.label[i], names[i]] for i in range(len(fit.path))))
    if (fit_dir / "clusters.parquet").is_file():
        _write_table(fit_dir / "clusters.parquet", out / "clusters.parquet", curated.clusters, placed.distances, names)
    io.write_npy(out / "centroids.npy", placed.centroids)
    io.write_bytes(out / "preprocess.npz", npz_bytes(clusterer.state()))
    for name in KEPT:
        if (fit_dir / name).is_file():
            shutil.copyfile(fit_dir / name, out / name)   # the umask's modes (copyfile keeps no permission bits)
    named = {int(c): n for c, n in sorted(curated.names.items()) if (curated.clusters == c).any()}
    io.write_json(out / "names.json", {"names": named, "clips_named": len(curated.row_names)})
    io.write_text(out / "changes.txt", "".join(line + "\n" for line in curated.changes))
    io.write_bytes(out / "curation.json", Path(made.source).read_bytes())
    metrics = json.loads((fit_dir / "metrics.json").read_text()) if (fit_dir / "metrics.json").is_file() else {}
    scores = _scores(fit, z, curated.clusters)
    metrics.update(scores, k=scores["n_clusters"], curated_from=made.fit, fit_id=fit_id(out / "assignments.csv"),
                   n_named_clusters=len(named), n_changes=len(curated.changes))
    io.write_json(out / "metrics.json", metrics)


def _scores(fit, z: np.ndarray, clusters: np.ndarray) -> dict:
    """The curated clusters scored as a fit's are (metrics.json): against the labels where there are some."""
    from audioclust.cluster.metrics import clustering_scores

    labels = [v or None for v in fit.label]
    return clustering_scores(z, clusters, labels if any(labels) else None)


def _write_table(src: Path, dst: Path, clusters, dists, names) -> None:
    """The fit's clusters.parquet with its curated cluster and distance, and a name column; streamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.ParquetFile(src)
    schema_ = table.schema_arrow
    if "name" not in schema_.names:   # a curated fit curated again already has one
        schema_ = schema_.append(pa.field("name", pa.string()))

    def batches():
        at = 0
        for b in table.iter_batches(batch_size=8192):
            n = b.num_rows
            cols = {f: b.column(f) for f in b.schema.names}
            cols["cluster"] = pa.array(np.asarray(clusters[at:at + n], np.int64))
            cols["distance"] = pa.array(np.asarray(dists[at:at + n], np.float64))
            cols["name"] = pa.array(names[at:at + n], pa.string())
            yield pa.record_batch([cols[f.name] for f in schema_], schema=schema_)
            at += n

    io.write_parquet(dst, schema_, batches())


def _exports(cfg, fit_dir: Path, out: Path, fit, curated, placed, names) -> None:
    if not any(cfg.export.values()):
        return
    import pyarrow.parquet as pq

    seconds = pq.read_table(fit_dir / "clusters.parquet", columns=["duration"]).column("duration").to_numpy()
    rows = [Assignment(fit.path[i], round(float(fit.offset[i]), 3), float(seconds[i]), int(curated.clusters[i]),
                       round(float(placed.distances[i]), 5), fit.label[i] or "", names[i]) for i in range(len(fit.path))]
    exported = export_all(rows, out / "exports", **cfg.export)
    print("exports (with the names): " + ", ".join(f"{len(v)} {k}" for k, v in exported.items()) + f" in {out / 'exports'}")


def _probe(out: Path, fit, clusters: np.ndarray, x: np.ndarray, names: list[str], review: int, seed: int, made_on: str) -> None:
    """predictions.csv (every row: its most probable name, that probability and the margin) and review_next.csv
    (the `review` unnamed rows the probe is least sure of), when at least two names were given. `fit`: the id of
    the fit whose rows these are (the explorer that made the curation refuses another fit's list)."""
    probe = fit_probe(x, names, seed)
    if probe is None:
        print("classifier: needs clips of at least two names (rename clusters or label clips): no predictions written")
        return
    predicted, margin, best = probe.predicted, probe.margin, probe.proba.max(1)
    fields = ["row", "path", "offset", "cluster", "name", "predicted", "probability", "margin", "fit"]
    io.write_csv_rows(out / "predictions.csv", fields + [f"p_{n}" for n in probe.names],
                      ([i, fit.path[i], fit.offset[i], int(clusters[i]), names[i], predicted[i], round(float(best[i]), 4),
                        round(float(margin[i]), 4), made_on, *np.round(probe.proba[i].astype(np.float64), 4).tolist()]
                       for i in range(len(fit.path))))
    rows = probe.review_next(review, np.asarray([bool(n) for n in names]))
    io.write_csv_rows(out / "review_next.csv", fields,
                      ([int(i), fit.path[i], fit.offset[i], int(clusters[i]), names[i], predicted[i],
                        round(float(best[i]), 4), round(float(margin[i]), 4), made_on] for i in rows))
    print(f"classifier: a linear probe on {probe.trained_on} named clips ({len(probe.names)} names) -> predictions.csv; "
          f"the {len(rows)} clips it is least sure of -> review_next.csv (listen, name them, apply again)")
