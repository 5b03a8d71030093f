"""The search task: the nearest rows of a previous fit (audioclust-cluster's embeddings.npy and assignments.csv) to
a row of it (a file, and an offset into it) or to a cluster (the mean of its rows), printed and written to
neighbours.csv in the task's output folder (docs/api.md "Search by example").

    audioclust-search fit_dir=<a cluster output folder> query.path=dog_3.wav [query.offset=2.0] [n=20]
    audioclust-search fit_dir=<...> query.cluster=4
    audioclust-search fit_dir=<...> query.audio=new_call.wav     # new audio, embedded as the fit's rows were
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from audioclust import checks, io
from audioclust.api import search as find
from audioclust.errors import ConfigError
from audioclust.search.fit import query_rows, read_fit
from audioclust.search.index import SPACES

FIELDS = ["rank", "path", "offset", "cluster", "distance", "label"]


def search(cfg: DictConfig) -> Path:
    n = checks.number("n", cfg.n, integer=True)
    fit = read_fit(cfg.fit_dir)
    audio = cfg.query.get("audio")
    if audio is not None:
        if cfg.query.path is not None or cfg.query.cluster is not None:
            raise ConfigError("give one query: query.audio, query.path or query.cluster")
        q, what = _audio_query(cfg, str(audio))
    else:
        rows = query_rows(fit, cfg.query.path, cfg.query.offset, cfg.query.cluster)
        q = rows if cfg.query.cluster is None else np.asarray(fit.vectors[rows], np.float32).mean(0)
        what = f"cluster {cfg.query.cluster} (the mean of its {len(rows)} rows)" if cfg.query.cluster is not None else \
            f"{fit.path[rows[0]]} at {fit.offset[rows[0]]:.3f} s"
    m = find(fit.vectors, q, n=n, space=checks.choice("space", cfg.space, SPACES))
    found = [{"rank": int(k), "path": fit.path[r], "offset": round(float(fit.offset[r]), 3), "cluster": int(fit.cluster[r]),
              "distance": round(float(d), 5), "label": fit.label[r]} for k, r, d in zip(m.rank, m.row, m.distance)]
    print(f"the {len(found)} nearest of {len(fit.path)} rows to {what}:")
    print(f"{'rank':>4}  {'distance':>8}  {'cluster':>7}  {'offset':>8}  path")
    for f in found:
        print(f"{f['rank']:>4}  {f['distance']:>8.4f}  {f['cluster']:>7}  {f['offset']:>8.3f}  {f['path']}")
    out = Path(cfg.paths.output_dir)
    io.write_csv(out / "neighbours.csv", found, FIELDS)
    print(f"neighbours.csv in {out}")
    return out


def _audio_query(cfg: DictConfig, audio: str) -> tuple[np.ndarray, str]:
    """New audio as a query: embedded as the fit embedded its rows (its encoder, with the options encoder.json
    records, or its run; a mix of pretrained encoders: its members, each through its own store; its windowing;
    through the store, so audio searched before is not embedded again), the mean of its rows."""
    import json

    from audioclust.api import embed
    from audioclust.data.windowing import Windowing
    from audioclust.tasks.builders import BLOCKAE

    fit_dir = Path(cfg.fit_dir)
    enc = json.loads((fit_dir / "encoder.json").read_text())
    members = enc.get("members")
    if members and BLOCKAE in members:
        raise ConfigError(f"query.audio with a fit of encoder=mix with a train.py run among its members ({', '.join(members)}): "
                          "search by one of its clips (query.path=...)")
    run_dir = json.loads((fit_dir / "metrics.json").read_text()).get("run_dir")
    windowing = None if run_dir else Windowing.from_record(enc["windowing"])   # a trained run keeps its own
    options = None if run_dir or members else {k: v for k, v in (enc.get("options") or {}).items() if k != "_target_"} or None
    emb = embed([audio] if Path(audio).is_file() else audio, encoder=list(members) if members else enc["name"],
                run_dir=run_dir, windowing=windowing, store=cfg.get("store_dir"), encoder_options=options)
    if not len(emb):
        raise ConfigError(f"query.audio={audio}: no readable audio ({'; '.join(s['reason'] for s in emb.skipped[:2])})")
    return emb.vectors.mean(0), f"{audio} ({len(emb)} row{'s' if len(emb) != 1 else ''}, their mean)"
