"""encoder=auto: pick the pretrained encoder, or combination of them, whose clusters of this folder are the most
stable (no labels).

    audioclust-cluster encoder=auto data.root=/my/clips kmeans.k=10

Each installed candidate (conf/encoder/auto.yaml: candidates) embeds the same evenly spread sample of the rows
the run will cluster (whole files, as data=folder reads them). With two candidates or more (and k-means with
kmeans.k), all of them side by side (encoder=mix) and their consensus (cluster.method=consensus) are candidates too,
on the same rows. Each candidate's sample is clustered from scratch on random pairs of subsamples, with the run's
preprocess and k and the reducer encoder.reduce (none: k-means alone; after UMAP nearly every candidate's clusters
come back alike), and the candidate whose clusterings agree most (audioclust/cluster/choose.py) is the encoder of
the run. The scores go to encoder_choice.json and are printed with the command line that names the pick again
(mode=assign later); the run then goes on as with encoder=<pick> (a combination: encoder=mix of the installed
candidates, and cluster.method=consensus for their consensus).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from audioclust import checks, io
from audioclust.cluster.choose import stability
from audioclust.embed.inference import embed, pooled
from audioclust.errors import ConfigError
from audioclust.tasks.builders import build_clusterer, build_encoder, build_store, encoder_data, encoder_node, make_datamodule

log = logging.getLogger(__name__)
AUTO = "auto"
MIX, CONSENSUS = "mix", "consensus"   # encoder.combinations' candidates: every installed candidate side by side, their consensus


class Sample(NamedTuple):
    """A candidate's embeddings of the sample: each row's key (its first window's sample id), the rows, and how
    many rows the run will fit on."""
    ids: np.ndarray
    x: np.ndarray
    rows: int


def choose_encoder(cfg: DictConfig, k, out: Path) -> DictConfig:
    """The cfg with `encoder` replaced by the most stable candidate's node (a combination: encoder=mix of every
    installed candidate, and for their consensus cluster.method=consensus); encoder_choice.json in out.
    k: the run's number of clusters (an int, a function of the reduced features for a k search, or None for
    HDBSCAN)."""
    opts = cfg.encoder
    sample = checks.number("encoder.sample", opts.get("sample", 1000), integer=True)
    pairs = checks.number("encoder.pairs", opts.get("pairs", 10), integer=True)
    nodes = {str(n): encoder_node(str(n)) for n in _candidates(opts)}
    clusterer, judged = build_clusterer(cfg), _judged(cfg, opts.get("reduce", "none"), k)
    stage = build_clusterer(judged).content
    scores, missing, samples = {}, {}, {}
    for name, node in nodes.items():
        try:
            model = build_encoder(node)
        except ConfigError as e:   # its extra is not installed: recorded, the others go on
            missing[name] = str(e)
            continue
        t = time.perf_counter()
        samples[name] = _sample_embeddings(cfg, node, model, sample, int(cfg.seed), lambda long: clusterer.fits_files(long, k), out)
        w, g = getattr(model, "dim_weights", None), getattr(model, "dim_groups", None)
        scores[name] = _scored(name, stage, samples[name].x, k, w, g, pairs, int(cfg.seed), t, model.licence)
    if not scores:
        raise ConfigError("encoder=auto: none of the candidates is installed: " + "; ".join(missing.values()))
    for name, (x, w, g, judge) in _combinations(judged, stage, opts, samples, k).items():
        t = time.perf_counter()
        scores[name] = _scored(name, judge, x, k, w, g, pairs, int(cfg.seed), t, "; ".join(f"{n}: {scores[n]['licence']}" for n in samples))
        scores[name]["members"] = list(samples)
    return _with_pick(cfg, _record(scores, missing, judged.reduce.method, out), nodes, list(samples))


def _candidates(opts) -> list[str]:
    """encoder.candidates, or (null) every pretrained encoder (conf/encoder, embed/encoders/registry.py)."""
    if opts.get("candidates") is None:
        from audioclust.embed.encoders.registry import pretrained
        return list(pretrained())
    if not list(opts.candidates):
        raise ConfigError("encoder=auto needs encoder.candidates=[...] (conf/encoder/auto.yaml)")
    return [str(n) for n in opts.candidates]


def _judged(cfg: DictConfig, reduce, k) -> DictConfig:
    """The run's cluster settings with the reducer the candidates are judged with (encoder.reduce; null: the
    run's own, which HDBSCAN and a k search keep too: they find the number of clusters in the reduced features)."""
    judged = OmegaConf.merge(cfg, {})
    if reduce is not None and isinstance(k, int):
        with open_dict(judged):
            judged.reduce.method = str(reduce)
    return judged


def _scored(name: str, stage, x: np.ndarray, k, weights, groups, pairs: int, seed: int, started: float, licence: str) -> dict:
    """A candidate's stability (cluster/choose.py): its sample's clusterings, from scratch, by `stage`; logged."""
    st = stability(x, lambda rows, s: stage.fresh(s).fit(rows, k, weights, groups=groups)[0], pairs=pairs, seed=seed)
    got = {"stability": st.score, "pairs": st.pairs, "clips": int(len(x)),
           "seconds": round(time.perf_counter() - started, 1), "licence": licence}
    log.info("encoder=auto: %s stability %.3f (%d clips, %.0f s)", name, st.score, len(x), got["seconds"])
    return got


def _combinations(judged: DictConfig, stage, opts, samples: dict, k) -> dict:
    """encoder.combinations: every installed candidate side by side (MIX: encoder=mix's column weights) and their
    consensus (CONSENSUS: cluster.method=consensus), each as (rows, weights, groups, the stage that judges it), on
    the rows every candidate embedded. Only where the run can cluster them so: two candidates or more, k-means with
    kmeans.k, and no more rows than consensus.max_rows for the consensus. stage: the candidates' judging stage."""
    from audioclust.embed.encoders.mix import side_by_side

    if not opts.get("combinations", True) or len(samples) < 2 or not isinstance(k, int) or judged.cluster.method != "kmeans":
        return {}
    common = next(iter(samples.values())).ids
    for s in samples.values():   # a row one candidate could not decode is left out of the combinations
        common = np.intersect1d(common, s.ids)
    x = np.concatenate([s.x[np.isin(s.ids, common)] for s in samples.values()], 1)
    w, g = side_by_side(s.x.shape[1] for s in samples.values())
    out = {MIX: (x, w, None, stage)}   # side by side: judged as the candidates are
    if max(s.rows for s in samples.values()) <= int(judged.consensus.max_rows):
        with open_dict(judged):
            judged.cluster.method = CONSENSUS
        out[CONSENSUS] = (x, w, g, build_clusterer(judged).content)
    return out


def _with_pick(cfg: DictConfig, pick: str, nodes: dict, members: list[str]) -> DictConfig:
    """A copy of cfg with the picked encoder's node (a combination's: encoder=mix of `members`)."""
    from audioclust.embed.encoders import registry

    chosen = OmegaConf.merge(cfg, {})
    with open_dict(chosen):
        if pick in nodes:
            chosen.encoder = nodes[pick]
        else:
            chosen.encoder = registry.node(MIX)
            chosen.encoder.members = members
        if pick == CONSENSUS:
            chosen.cluster.method = CONSENSUS
    return chosen


def _record(scores: dict, missing: dict, reduce: str, out: Path) -> str:
    """The most stable candidate, written to encoder_choice.json with every score and printed in one line."""
    pick = max(scores, key=lambda n: scores[n]["stability"])
    io.write_json(out / "encoder_choice.json", {"pick": pick, "criterion": "stability (mean ARI of subsample pairs, "
                                                f"clustered with reduce.method={reduce})",
                                                "scores": scores, "not_installed": missing})
    others = ", ".join(f"{n} {s['stability']:.3f}" for n, s in scores.items() if n != pick)
    print(f"encoder=auto: picked {pick} (stability {scores[pick]['stability']:.3f}; {others or 'no other'}"
          + (f"; not installed: {', '.join(missing)}" if missing else "") + f"). Weights licence: "
          f"{scores[pick]['licence']}. Scores in {out / 'encoder_choice.json'}" + _again(pick, scores[pick].get("members")))
    return pick


def _again(pick: str, members) -> str:
    """How to name the pick on a later command line (mode=assign, another fit)."""
    if not members:
        return f"; later runs: encoder={pick}"
    mix = f"encoder=mix 'encoder.members=[{','.join(members)}]'"
    return f"; later runs: {mix}" + (" cluster.method=consensus (mode=assign: the mix alone)" if pick == CONSENSUS else "")


def _sample_embeddings(cfg: DictConfig, node, model, n: int, seed: int, fits_files, out: Path) -> Sample:
    """Embeddings of an evenly spread, seeded sample of at most n of the rows the run will fit its clusters on
    (decoded ones only): the folder read as the run reads it (clip length, windows, a short file's windows pooled
    into one row; every file's when the run fits on one row per file: fits_files(long files)), so each
    candidate is judged on what it would cluster. Through the run's embedding store: the pick's rows are not
    embedded again by the run, nor any candidate's by a later one."""
    import shutil

    dm = make_datamodule(encoder_data(cfg, model), cfg.get("data"), cfg.get("input"))
    dm.setup("predict")
    fids = dm.index.file_ids
    whole = dm.index.windowing.pooled(dm.index.durations)
    files = fits_files(~whole)   # the run fits on one row per file (clips and long recordings)
    if files:
        whole[:] = True
    sid = np.arange(len(dm.index))
    row = np.where(whole[fids], -1 - fids, sid)   # a pooled file's windows share one row key
    keys = np.unique(row)
    total = len(keys)
    if total > n:
        keys = np.random.default_rng(seed).choice(keys, n, replace=False)
    dm.predict_ids = sid[np.isin(row, keys)]
    tmp = out / "embed" / f"auto-{node.name}"
    emb = embed(model, dm, cfg.get("device", "auto"), progress=False, store=build_store(cfg, node, model, dm, out), out_dir=tmp)
    rows = pooled(emb, dm.index, whole=files)
    ok = np.asarray(rows["ok"], bool)
    got = Sample(np.asarray(rows["sample_id"])[ok], np.array(rows["embedding"][ok]), total)
    del emb, rows
    shutil.rmtree(tmp, ignore_errors=True)
    return got
