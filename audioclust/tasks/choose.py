"""encoder=auto: pick the pretrained encoder whose clusters of this folder are the most stable (no labels).

    audioclust-cluster encoder=auto data.root=/my/clips kmeans.k=10 reduce.method=umap

Each installed candidate (conf/encoder/auto.yaml: candidates) embeds the same evenly spread sample of the rows
the run will cluster (whole files, as data=folder reads them); each sample is clustered from scratch on random
pairs of subsamples, as the run will cluster (its preprocess, reduce and k), and the candidate whose clusterings
agree most (audioclust/cluster/choose.py) is the encoder of the run. The scores go to encoder_choice.json and are printed; the run then goes on as with
encoder=<pick> (mode=assign later: pass encoder=<pick>).
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from audioclust import checks, io
from audioclust.cluster.choose import stability
from audioclust.embed.inference import embed, pooled
from audioclust.errors import ConfigError
from audioclust.tasks.builders import build_clusterer, build_encoder, build_store, encoder_data, encoder_node, make_datamodule

log = logging.getLogger(__name__)
AUTO = "auto"


def choose_encoder(cfg: DictConfig, k, out: Path) -> DictConfig:
    """The cfg with `encoder` replaced by the most stable candidate's node; encoder_choice.json in out.
    k: the run's number of clusters (an int, a function of the reduced features for a k search, or None for
    HDBSCAN)."""
    opts = cfg.encoder
    sample = checks.number("encoder.sample", opts.get("sample", 1000), integer=True)
    pairs = checks.number("encoder.pairs", opts.get("pairs", 2), integer=True)
    if opts.get("candidates") is None:   # every pretrained encoder (conf/encoder, embed/encoders/registry.py)
        from audioclust.embed.encoders.registry import pretrained
        names = list(pretrained())
    else:
        names = list(opts.candidates)
    if not names:
        raise ConfigError("encoder=auto needs encoder.candidates=[...] (conf/encoder/auto.yaml)")
    nodes = {str(n): encoder_node(str(n)) for n in names}
    clusterer = build_clusterer(cfg)
    stage = clusterer.content
    scores, missing = {}, {}
    for name, node in nodes.items():
        try:
            model = build_encoder(node)
        except ConfigError as e:   # its extra is not installed: recorded, the others go on
            missing[name] = str(e)
            continue
        t = time.perf_counter()
        x = _sample_embeddings(cfg, node, model, sample, int(cfg.seed), lambda long: clusterer.fits_files(long, k), out)

        w, g = getattr(model, "dim_weights", None), getattr(model, "dim_groups", None)
        st = stability(x, lambda rows, seed: stage.fresh(seed).fit(rows, k, w, groups=g)[0], pairs=pairs, seed=int(cfg.seed))
        scores[name] = {"stability": st.score, "pairs": st.pairs, "clips": int(len(x)),
                        "seconds": round(time.perf_counter() - t, 1), "licence": model.licence}
        log.info("encoder=auto: %s stability %.3f (%d clips, %.0f s)", name, st.score, len(x), scores[name]["seconds"])
    if not scores:
        raise ConfigError("encoder=auto: none of the candidates is installed: " + "; ".join(missing.values()))
    pick = _record(scores, missing, out)
    chosen = OmegaConf.merge(cfg, {})   # a copy with the picked encoder's node
    with open_dict(chosen):
        chosen.encoder = nodes[pick]
    return chosen


def _record(scores: dict, missing: dict, out: Path) -> str:
    """The most stable candidate, written to encoder_choice.json with every score and printed in one line."""
    pick = max(scores, key=lambda n: scores[n]["stability"])
    io.write_json(out / "encoder_choice.json", {"pick": pick, "criterion": "stability (mean ARI of subsample pairs)",
                                                "scores": scores, "not_installed": missing})
    others = ", ".join(f"{n} {s['stability']:.3f}" for n, s in scores.items() if n != pick)
    print(f"encoder=auto: picked {pick} (stability {scores[pick]['stability']:.3f}; {others or 'no other'}"
          + (f"; not installed: {', '.join(missing)}" if missing else "") + f"). Weights licence: "
          f"{scores[pick]['licence']}. Scores in {out / 'encoder_choice.json'}")
    return pick


def _sample_embeddings(cfg: DictConfig, node, model, n: int, seed: int, fits_files, out: Path) -> np.ndarray:
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
    if len(keys) > n:
        keys = np.random.default_rng(seed).choice(keys, n, replace=False)
    dm.predict_ids = sid[np.isin(row, keys)]
    tmp = out / "embed" / f"auto-{node.name}"
    emb = embed(model, dm, cfg.get("device", "auto"), progress=False, store=build_store(cfg, node, model, dm, out), out_dir=tmp)
    rows = pooled(emb, dm.index, whole=files)
    x = np.array(rows["embedding"][np.asarray(rows["ok"], bool)])
    del emb, rows
    shutil.rmtree(tmp, ignore_errors=True)
    return x
