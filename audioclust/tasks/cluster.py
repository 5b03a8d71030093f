"""The cluster task: embed a run's data (or a folder, with a pretrained encoder), FAISS k-means (mode=fit) or
assignment to fitted clusters (mode=assign)."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import DictConfig, OmegaConf

from audioclust import checks, io
from audioclust.api import npz_bytes
from audioclust.cluster.faiss_backend import load_faiss
from audioclust.cluster.metrics import clustering_scores, grouping_scores
from audioclust.cluster.pipeline import Clusterer, FileRows
from audioclust.data.windowing import Windowing
from audioclust.embed.inference import embed, embed_members, pooled
from audioclust.errors import ConfigError
from audioclust.report.export import Assignment, export_all
from audioclust.report.outputs import (
    ClusterResult,
    ReportSettings,
    WandbSettings,
    assignment_rows,
    log_wandb,
    map_coords,
    write_explorer,
    write_plots,
    write_tables,
)
from audioclust.tasks.builders import (
    FIT_SCHEMA,
    build_clusterer,
    build_store,
    check_embedder,
    check_schema,
    encoder_name,
    load_embedder,
    make_datamodule,
    member_nodes,
    members_at_rates,
)
from audioclust.tasks.choose import AUTO, choose_encoder
from audioclust.utils import Stages, is_rank_zero, setup_run, show_progress

log = logging.getLogger(__name__)


MODES, DEVICES = ("fit", "assign"), ("auto", "cpu", "cuda")


class Plan(NamedTuple):
    mode: str
    device: str
    report: ReportSettings
    clusterer: Clusterer


def plan(cfg: DictConfig) -> Plan:
    """The run's typed settings: each is checked as its object is built, before the run, its data or any output
    is touched."""
    check_embedder(cfg, voice_groups=bool(OmegaConf.select(cfg, "voice.groups")))
    names_from = cfg.get("names_from")
    if names_from and (cfg.mode != "fit" or not (Path(names_from) / "names.json").is_file()):
        raise ConfigError(f"names_from={names_from}: give an audioclust-curate output (it has names.json) to a mode=fit run")
    return Plan(checks.choice("mode", cfg.mode, MODES), checks.choice("device", cfg.device, DEVICES),
                ReportSettings(**cfg.report), build_clusterer(cfg))


def cluster(cfg: DictConfig) -> float | None:
    """Embed (load, embed), fit or assign (cluster), write the tables and exports (outputs), then the report."""
    mode, device, report, clusterer = plan(cfg)
    stages, out = Stages(), Path(cfg.paths.output_dir)
    _setup(cfg)
    if encoder_name(cfg) == AUTO:   # the most stable installed candidate becomes cfg.encoder
        cfg = choose_encoder(cfg, _k(cfg, cfg.encoder_data.get("n_clusters"), out, clusterer.content.method), out)
        clusterer = build_clusterer(cfg)   # the pick may be a consensus (cluster.method=consensus)
    data_cfg, model, run_cfg = load_embedder(cfg)   # a train run's (encoder=blockae) or a pretrained encoder
    encoder, run_dir = _encoder_info(cfg, model), _run_dir(cfg)
    wandb = _wandb(cfg, mode, run_cfg)
    if mode == "assign":
        clusterer, fitted = _load_clusters(cfg, encoder)
        data_cfg = fitted_window(data_cfg, fitted, cfg.get("data"))
    model.predict_voice = clusterer.needs_ltas
    dm = _datamodule(cfg, data_cfg)
    stages.done("load")   # model, index of the data
    embedded = _embed(cfg, model, dm, device, out)
    if embedded is None:  # a non-zero predict rank: its shard is written, rank 0 merges and clusters
        return None
    windows, emb, ok, x, ltas = embedded
    stages.done("embed")
    if mode == "fit":
        clusters, dists, z, centroids, fit_rows = _fit(cfg, clusterer, model, dm, windows, emb, ok, x, ltas, encoder)
    else:
        clusters, dists, z = clusterer.assign(x, ltas)
        centroids, fit_rows = clusterer.centroids, None
    stages.done("cluster")
    rows, skipped = assignment_rows(dm.index, emb["sample_id"], ok, clusters, dists)
    rows = _named(cfg, rows, out, fitted.get("names", {}) if mode == "assign" else None)
    scores = _scores(cfg, z, rows, emb, ok, dm, clusterer, dict(mode=mode, k=int(len(centroids)), n_skipped=len(skipped),
                                                              run_dir=run_dir, encoder=encoder["name"]), fit_rows)
    write_tables(out, rows, skipped, dm.index.segments, x, scores, dm.index.windowing.row_seconds(dm.index.durations, rows.file_ids))
    result = ClusterResult(rows, emb["sample_id"][ok], scores, skipped=skipped)
    _export(cfg, rows, dm, out)
    stages.done("outputs")   # scores, csv and npy files, exports
    _report(cfg, report, wandb, out, model, dm, z, result, stages, encoder)
    io.write_json(out / "timings.json", stages.record())
    _print_summary(out, scores)
    return scores.get("acc", scores.get("silhouette"))


def _setup(cfg) -> None:
    faiss = load_faiss()   # one clear line when no (or two) FAISS wheels are installed
    setup_run(cfg)
    if cfg.get("threads"):  # FAISS's OpenMP too: on a shared CPU fewer threads are much faster (BENCHMARKS.md)
        faiss.omp_set_num_threads(int(cfg.threads))


def _wandb(cfg, mode: str, run_cfg) -> WandbSettings:
    wandb = WandbSettings.from_config(cfg.wandb, tags=[mode])
    if wandb.group is None and run_cfg is not None:   # join the training run's group (train sets it to its run dir's name)
        wandb = replace(wandb, group=OmegaConf.select(run_cfg, "wandb.group", default=None))
    return wandb


def _datamodule(cfg, data_cfg):
    dm = make_datamodule(data_cfg, cfg.get("data"), cfg.get("input"))
    line = dm.resolve_windowing()   # data.clip_seconds / hop_seconds=auto (a pretrained encoder's folder defaults)
    lines = [x for x in (line, dm.windowing.native_line()) if x]   # and what the encoder's native length changes
    if lines and is_rank_zero():
        print("\n".join(lines))
    dm.setup("predict")
    return dm


def _embed(cfg, model, dm, device: str, out: Path):
    """(every window's embeddings, the rows clustered, their ok mask, embeddings and long-term spectra of the ok
    rows); None on a non-zero predict rank."""
    ecfg = cfg.get("embed") or {}
    how = {"progress": show_progress(cfg.get("progress")), "devices": ecfg.get("devices", 1),
           "strategy": ecfg.get("strategy", "auto")}
    if getattr(model, "names", None):   # encoder=mix: each member through its own store, as it is embedded alone
        emb = embed_members(_members(cfg, model, dm, out), device, out_dir=out / "embed", **how)
    else:
        emb = embed(model, dm, device, store=build_store(cfg, cfg.encoder, model, dm, out), out_dir=out / "embed", **how)
    if emb is None:
        return None
    # data=folder: one row per file up to 30 s, its windows weighted by their signal power
    windows, emb = emb, pooled(emb, dm.index)
    ok = np.asarray(emb["ok"]).astype(bool)
    x = emb["embedding"] if ok.all() else emb["embedding"][ok]  # memory-mapped when every clip decoded
    ltas = None if "voice" not in emb else emb["voice"] if ok.all() else emb["voice"][ok]
    return windows, emb, ok, x, ltas


def _members(cfg, model, dm, out: Path) -> list[tuple]:
    """encoder=mix's members as embed_members takes them: (name, model, the data module at its rate, its store: the
    one a run of that encoder alone has)."""
    return [(name, member, at, build_store(cfg, node, member, at, out)) for name, member, node, at in members_at_rates(model, dm)]


def _fit(cfg, clusterer: Clusterer, model, dm, windows: dict, emb: dict, ok, x, ltas, encoder: dict):
    """mode=fit: labels, distances, reduced features, centroids and the number of rows fitted on; the fit's
    encoder.json, preprocess.npz and centroids.npy written."""
    out = Path(cfg.paths.output_dir)
    k, weights = _k(cfg, dm.n_clusters, out, clusterer.content.method), getattr(model, "dim_weights", None)
    groups = getattr(model, "dim_groups", None)   # encoder=mix: each column's member (cluster.method=consensus)
    if clusterer.fits_files(~dm.index.windowing.pooled(dm.index.durations), k):   # clips and recordings
        files = _file_rows(windows, emb["sample_id"][ok], dm)
        clusters, dists, z, centroids = clusterer.fit_files(files, x, ltas, k, weights, groups)
        fit_rows = len(files.x)
    else:
        clusters, dists, z, centroids = clusterer.fit(x, ltas, k, weights, groups)
        fit_rows = len(x)
    decided = _members_decided(clusterer, model, encoder)
    io.write_json(out / "encoder.json", {"schema": FIT_SCHEMA, **encoder, "sr": int(dm.sr), "windowing": dm.index.windowing.record(),
                                         **({"consensus": decided} if decided else {})})
    io.write_bytes(out / "preprocess.npz", npz_bytes(clusterer.state()))
    io.write_npy(out / "centroids.npy", centroids)  # last of the pair: its presence means both are there
    return clusters, dists, z, centroids, fit_rows


def _members_decided(clusterer: Clusterer, model, encoder: dict) -> list[dict]:
    """cluster.method=consensus: each member's silhouette and whether it took part, printed and kept in encoder.json."""
    members = getattr(clusterer.content.method, "members_", None)
    if not members:
        return []
    names = list(getattr(model, "names", None) or [encoder["name"]])
    decided = [{"encoder": names[d["member"]], "silhouette": d["silhouette"], "kept": d["kept"]} for d in members]
    if is_rank_zero():
        print("consensus: " + ", ".join(f"{d['encoder']} " + ("kept" if d["kept"] else "dropped") +
                                        f" (silhouette {d['silhouette'] if d['silhouette'] is not None else 'undefined'})"
                                        for d in decided) +
              f"; members kept: silhouette >= {clusterer.content.method.options['keep']:g} x the best member's")
    return decided


def _scores(cfg, z, rows, emb: dict, ok, dm, clusterer: Clusterer, run: dict, fit_rows: int | None) -> dict:
    """metrics.json: the scores against the labels and the other groupings (folder, file, site), the network's own
    clusters scored the same way, and the run's facts (`run`: mode, k, n_skipped, run_dir, encoder)."""
    labels, seed = rows.labels, int(cfg.seed)
    scores = clustering_scores(z, rows.clusters, labels, seed=seed, noise=clusterer.content.method.noise or None)
    scores["by"] = grouping_scores(rows.clusters, rows.groupings((dm.labels or {}).get("manifest")))
    if "dec_cluster" in emb:  # the network's own clusters, scored the same way, for comparison
        scores["dec"] = clustering_scores(z, emb["dec_cluster"][ok], labels, seed=seed)
    scores.update(mode=run["mode"], k=run["k"], n_files=len(dm.index.files) + len(dm.index.skipped),
                  n_skipped=run["n_skipped"], n_not_audio=sum(dm.index.not_audio.values()), run_dir=run["run_dir"], encoder=run["encoder"],
                  **({"n_fit_rows": fit_rows} if fit_rows is not None else {}))   # the rows the clusters were fitted on
    return scores


def _named(cfg, rows, out: Path, names: dict | None):
    """The rows with their clusters' names: a curated fit's (mode=assign; `names`), or inherited from names_from
    (mode=fit; names.json then, so that mode=assign of this fit names new audio too)."""
    if names is None:
        names = _inherited(cfg.get("names_from"), rows)
        if names:
            io.write_json(out / "names.json", {"names": names, "inherited_from": str(cfg.names_from)})
    return replace(rows, names=names)


def _inherited(names_from, rows) -> dict[int, str]:
    """mode=fit with names_from=<a curated fit>: each cluster takes the name most of its named clips had there."""
    if not names_from:
        return {}
    from audioclust.curate.inherit import inherit_names
    from audioclust.search.fit import read_fit

    old = read_fit(names_from)   # checked by plan(): a curated fit
    got = inherit_names(rows.paths, rows.offsets, rows.clusters, old.path, old.offset, old.name)
    print(f"names from {names_from}: {len(got)} of {len(np.unique(rows.clusters[rows.clusters >= 0]))} clusters named by "
          "the majority of their clips" + "".join(f"\n  cluster {c} <- {v.name!r} ({v.votes} of its {v.named} named clips)"
                                                   for c, v in got.items()))
    return {c: v.name for c, v in got.items()}


def _export(cfg, rows, dm, out: Path) -> None:
    if any(cfg.export.values()):
        seconds = dm.index.windowing.row_seconds(dm.index.durations, rows.file_ids)
        exported = export_all([Assignment(rows.path(i), round(float(rows.offsets[i]), 3), float(seconds[i]),
                                          int(rows.clusters[i]), round(float(rows.dists[i]), 5), rows.label(i) or "",
                                          rows.name(i))
                               for i in range(len(rows))], out / "exports", **cfg.export)
        print("exports: " + ", ".join(f"{len(v)} {k}" for k, v in exported.items()) + f" in {out / 'exports'}")


def _report(cfg, report: ReportSettings, wandb: WandbSettings, out: Path, model, dm, z, result: ClusterResult,
            stages: Stages, encoder: dict) -> None:
    """Plots, the map, explorer.html and the W&B run, each a stage of timings.json."""
    mode, run_dir, seed = result.scores["mode"], _run_dir(cfg), int(cfg.seed)
    plots = write_plots(report, out, model, dm, z, result)
    stages.done("plots")
    result.drawn, result.xy, result.picks, result.method = map_coords(report, wandb, z, result, seed,
                                                                     OmegaConf.select(cfg, "kmeans.gpu", default="auto"))
    stages.done("map")
    source = Path(run_dir).name if run_dir else f"encoder={encoder['name']}"
    write_explorer(report, out, model, dm, result, title=f"{source} / {mode}")
    stages.done("explorer")
    config = OmegaConf.to_container(cfg, resolve=True)
    config.update(run_dir=run_dir, encoder={**(config.get("encoder") or {}), **encoder})   # its name and licence
    log_wandb(wandb, out, plots, model, dm, result, job_type=mode, run_dir=run_dir and Path(run_dir), seed=seed,
              config=config)
    stages.done("wandb")


def _file_rows(windows: dict, sid: np.ndarray, dm) -> FileRows:
    """One row per file (every file's windows pooled) to fit clusters on, when some files are one row each and
    longer recordings one row per window (sid: the rows clustered; Clusterer.fits_files): a recording then counts
    once, as a clip does, not once per window."""
    up_to = float(dm.index.windowing.pool_windows_up_to)
    fid = dm.index.file_ids[sid]
    long = ~dm.index.windowing.pooled(dm.index.durations)[fid]
    files = pooled(windows, dm.index, whole=True)
    fok = np.asarray(files["ok"]).astype(bool)
    fsid = np.asarray(files["sample_id"])[fok]
    if is_rank_zero():
        print(f"clusters fitted on one row per file ({len(fsid)} files); the {int(long.sum())} windows of the "
              f"{len(np.unique(fid[long]))} file(s) over {up_to:g} s then assigned to them (cluster.fit_on=rows: "
              "fitted on every row)")
    return FileRows(files["embedding"][fok], files["voice"][fok] if "voice" in files else None,
                    np.where(long, -1, np.searchsorted(fsid, sid)))


def _k(cfg, n_clusters: int | None, out: Path, method):
    """kmeans.k, the data config's n_clusters, or (kmeans.search) a function that picks k from the embeddings;
    None for a method that finds k (cluster.method=hdbscan)."""
    if not method.takes_k:
        return None
    if cfg.kmeans.get("search"):
        return lambda z: _search(cfg, z, out)
    k = cfg.kmeans.k or n_clusters
    if not k:
        raise ConfigError("set kmeans.k or kmeans.search=[min,max] (the data config gives no n_clusters)")
    return int(k)


def _search(cfg, z, out: Path) -> int:
    from audioclust.cluster.ksearch import search_k
    from audioclust.report.plots import plot_search

    k_min, k_max = cfg.kmeans.search
    result = search_k(z, int(k_min), int(k_max), int(cfg.seed), gpu=cfg.kmeans.gpu)
    io.write_json(out / "k_search.json", result)
    plot_search(result, out / "k_search.png")
    print(f"k search over [{k_min}, {k_max}]: picked k={result['best_k']} by {result['criterion']} "
          f"(scores in {out / 'k_search.json'}, plot in {out / 'k_search.png'})")
    return result["best_k"]


def _run_dir(cfg) -> str | None:
    """run_dir as given (encoder=blockae), None with a pretrained encoder."""
    run_dir = OmegaConf.select(cfg, "run_dir")
    return None if run_dir is None else str(run_dir)


def _encoder_info(cfg, model) -> dict:
    """What embedded the clips, recorded with the clusters (encoder.json, checked by mode=assign) and in W&B: the
    encoder, its options that decide what a row says (store.value_options) and, for a mix, its members and theirs
    (`member_options`: their shipped configs, which another version may change)."""
    from audioclust.embed.store import value_options

    members, node = getattr(model, "names", None), cfg.get("encoder") or {}
    options = value_options(OmegaConf.to_container(node, resolve=True) if node else {})
    if members:
        options["member_options"] = {n: value_options(OmegaConf.to_container(m, resolve=True))
                                     for n, m in zip(members, member_nodes(model))}
    return {"name": encoder_name(cfg), "licence": getattr(model, "licence", "your own model (audioclust-train)"),
            "embedding_dim": int(model.embedding_dim), **({"members": list(members)} if members else {}),
            "options": options}


def _described(info: dict) -> str:
    return f"encoder={info['name']}" + (f" 'encoder.members=[{','.join(info['members'])}]'" if info.get("members") else "")


def _same_encoder(fitted: dict, encoder: dict) -> bool:
    """The same encoder (and, for a mix, the same members)."""
    return fitted.get("name") == encoder["name"] and fitted.get("members") == encoder.get("members")


def _load_clusters(cfg, encoder: dict):
    cdir = Path(cfg.clusters_dir) if cfg.get("clusters_dir") else _newest_fit(Path(cfg.run_dir), encoder)
    for name in ("centroids.npy", "preprocess.npz", "encoder.json"):
        if not (cdir / name).is_file():
            raise ConfigError(f"no {name} in {cdir}: run `audioclust-cluster ... mode=fit` first")
    fitted = json.loads((cdir / "encoder.json").read_text())
    check_schema(cdir / "encoder.json", fitted.get("schema"), f"audioclust-cluster {_described(encoder)}"
                 + (f" run_dir={cfg.run_dir}" if cfg.get("run_dir") else " data.root=<the fitted folder>") + " mode=fit",
                 FIT_SCHEMA)
    if not _same_encoder(fitted, encoder):
        raise ConfigError(f"the clusters in {cdir} were fitted with {_described(fitted)}, this run embeds with "
                          f"{_described(encoder)}: pass the fit's (or fit again)")
    _check_options(cdir, fitted.get("options"), encoder["options"])
    if fitted.get("embedding_dim", encoder["embedding_dim"]) != encoder["embedding_dim"]:   # a fit without its options
        raise ConfigError(f"the clusters in {cdir} were fitted on {fitted['embedding_dim']}-d embeddings, this run's "
                          f"{_described(encoder)} makes {encoder['embedding_dim']}-d ones (an encoder option differs, "
                          "e.g. encoder.pooling): pass the fit's encoder options (or fit again)")
    state = dict(np.load(cdir / "preprocess.npz", allow_pickle=False))
    if (cdir / "names.json").is_file():   # a curated fit (audioclust-curate): new audio gets its clusters' names
        fitted["names"] = {int(c): n for c, n in json.loads((cdir / "names.json").read_text())["names"].items()}
        print(f"clusters of a curated fit: {len(fitted['names'])} named ({cdir / 'names.json'})")
    return Clusterer.from_state(state, cfg.kmeans.gpu), fitted


def _check_options(cdir: Path, fitted: dict | None, now: dict) -> None:
    """mode=assign embeds as the fit did: an encoder option that decides what a row says and differs from the fit's
    is refused in one line; one that changes only the rounding (store.ROUNDING_ONLY: precision) is said. A fit
    recorded before its options were (no "options") is checked by its width alone."""
    from audioclust.embed.store import ROUNDING_ONLY

    if fitted is None:
        return
    differ = [k for k in sorted(set(fitted) | set(now)) if fitted.get(k) != now.get(k)]
    for key in [k for k in differ if k in ROUNDING_ONLY]:
        log.warning("encoder.%s=%s, the clusters were fitted with %s: the rows differ by rounding only", key,
                    now.get(key), fitted.get(key))
    refused = [k for k in differ if k not in ROUNDING_ONLY]
    if refused:
        said = ", ".join(f"encoder.{k}={fitted.get(k)} (this run's {now.get(k)})" for k in refused)
        raise ConfigError(f"the clusters in {cdir} were fitted with {said}: pass the fit's encoder options (or fit again)")


def fitted_window(data_cfg, fitted: dict, overrides):
    """mode=assign: new audio is cut as the fitted clips were (encoder.json's windowing: clip length, hop, pooling,
    detector), not chosen again from the new folder's durations; an explicit data.* value still wins (with a warning
    when it differs from the fit)."""
    data_cfg = data_cfg.copy()
    for key, value in Windowing.from_record(fitted["windowing"]).values().items():
        given = (overrides or {}).get(key)
        if given is None:
            data_cfg[key] = value
        elif given != value:
            log.warning("data.%s=%s, but the clusters were fitted with %s", key, given, value)
    return data_cfg


def _newest_fit(run_dir: Path, encoder: dict) -> Path:
    """The newest fit under run_dir by this run's encoder (encoder=blockae and a mix with blockae both fit there);
    the newest of any when none is (_load_clusters then names the encoder it was fitted with)."""
    fits = sorted(p.parent for p in run_dir.glob("fit*/**/centroids.npy") if (p.parent / "preprocess.npz").is_file())
    if not fits:
        raise ConfigError(f"no fitted clusters under {run_dir}: run cluster.py mode=fit first or set clusters_dir")

    def same(fit: Path) -> bool:
        try:
            return _same_encoder(json.loads((fit / "encoder.json").read_text()), encoder)
        except (OSError, ValueError, KeyError):
            return False

    return max([f for f in fits if same(f)] or fits, key=lambda p: (p / "centroids.npy").stat().st_mtime)


def _print_summary(out: Path, scores: dict) -> None:
    keys = [k for k in ("acc", "nmi", "ami", "ari", "silhouette") if scores.get(k) is not None]
    line = ", ".join(f"{k.upper()} {scores[k]:.3f}" for k in keys)
    if scores.get("n_noise"):
        line += f"; noise {scores['n_noise']} clips ({100 * scores['noise_fraction']:.1f}%)" + "".join(
            f", {k.upper()} {scores[k + '_clustered']:.3f}" for k in ("acc", "nmi", "ami", "ari")
            if scores.get(k + "_clustered") is not None) + " on the clustered clips"
    by = "; ".join(f"{g} ({s['n_groups']} groups) NMI {s['nmi']:.3f}, AMI {s['ami']:.3f}" for g, s in scores.get("by", {}).items())
    print(f"\n{scores['mode']}: {scores['n_clips']} clips in {scores['n_clusters']} clusters "
          f"({scores['n_skipped']} files skipped); {line}" + (f"\nclusters against {by}" if by else "") + f"\noutputs: {out}")
