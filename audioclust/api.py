"""The steps of `audioclust-cluster` as functions, for a notebook or a script: no Hydra config, keyword options
(docs/api.md).

    emb = audioclust.embed("clips/", run_dir="logs/train/runs/<time>")   # or encoder="speech" (no run)
    cl = audioclust.cluster(emb, k=12)                                    # cl.labels_, cl.distances_, cl.centroids_
    labels, dists = cl.assign(audioclust.embed("new/", run_dir=...))      # new audio into the fitted clusters
    audioclust.write_outputs(cl, emb, "out/")                             # assignments.csv, centroids.npy, ...

The objects are those the task builds (tasks/builders.py, cluster/pipeline.py, embed/inference.py), from the same
defaults (conf/data/folder.yaml, conf/cluster.yaml, conf/cluster/method/<name>.yaml, shipped in the package).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, cast

import numpy as np

from audioclust import checks
from audioclust.data.windowing import FIELDS as WINDOWING
from audioclust.data.windowing import Windowing
from audioclust.errors import ConfigError

PathLike = Union[str, "os.PathLike[str]"]
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True, eq=False)
class Embeddings:
    """One row per clip (or per window of a long recording): where it is in its file and its embedding.
    skipped: the files that gave no row, {path, reason}; label: each row's true label ("" where none), from the
    data's label settings (a train run's), only to score clusters."""
    path: tuple[str, ...]
    offset: np.ndarray      # (n,) float64, seconds into the file
    duration: np.ndarray    # (n,) float64, seconds the row stands for (the whole file when its windows were pooled)
    vectors: np.ndarray     # (n, d) float32
    encoder: str
    skipped: tuple[dict[str, str], ...] = ()
    label: tuple[str, ...] = field(default=())
    weights: np.ndarray | None = None   # (d,) the encoder's column weights (encoder=mix: each member weighs the same)
    groups: np.ndarray | None = None    # (d,) each column's member (encoder=mix), for method="consensus"

    def __len__(self) -> int:
        return len(self.path)

    def _columns(self) -> dict[str, Any]:
        return {"path": list(self.path), "offset": self.offset, "duration": self.duration,
                "label": list(self.label) if self.label else [""] * len(self)}

    def to_pandas(self) -> Any:
        """A DataFrame: path, offset, duration, label and `vector` (each row's embedding, a view of `vectors`)."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("Embeddings.to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame({**self._columns(), "vector": list(self.vectors)})

    def to_arrow(self) -> Any:
        """A pyarrow Table: path, offset, duration, label and `vector` (fixed-size list of float32)."""
        try:
            import pyarrow as pa
        except ImportError:
            raise ConfigError("Embeddings.to_arrow needs pyarrow: pip install pyarrow") from None
        from audioclust import io

        return pa.table({**self._columns(), "vector": io.vector_column(self.vectors)})   # clusters.parquet's column


def embed(paths_or_folder: PathLike | Sequence[PathLike] | None = None, encoder: str | Sequence[str] = "blockae",
          run_dir: PathLike | None = None, windowing: Windowing | Mapping[str, Any] | None = None, device: str = "auto", *,
          labels: Mapping[str, Any] | None = None, batch_size: int | None = None, num_workers: int | str | None = None,
          max_files: int | None = None, progress: bool = False, store: PathLike | None = None,
          encoder_options: Mapping[str, Any] | None = None) -> Embeddings:
    """Embeddings of a folder of audio, or of a list of files, as audioclust-cluster makes them.

    encoder: blockae (a train.py run: run_dir; no paths: the run's own data), a pretrained encoder (aisfx,
    birdnet, speech, speaker: its package installed, docs/encoders.md) or a list of them (encoder=mix: their
    embeddings side by side, with the members' column weights and groups for cluster()). windowing: a Windowing, or a mapping of
    some of its fields (clip_seconds, hop_seconds, pool_windows_up_to, pool_weights, segment, native_seconds), over the run's (or
    conf/data/folder.yaml's); labels: data.labels (e.g. {"pattern": "^([a-z]+)_"}); store: an embedding store's folder
    (audioclust-cluster's store.dir, e.g. ".cache/store"): the rows it holds for this encoder (a mix: for each member,
    shared with that encoder alone) are read, only the others embedded and added to it; encoder_options: some of a
    pretrained encoder's options over its conf/encoder/<name>.yaml (e.g. {"precision": "32"} for aisfx), as encoder.<option>= on the command line."""
    from omegaconf import OmegaConf

    from audioclust.tasks.builders import make_datamodule

    checks.choice("device", device, DEVICES)
    whole: dict[str, Any] | None = None
    if isinstance(windowing, Windowing):
        given = whole = windowing.values()   # every field, None included
    else:
        given = dict(windowing or {})
    unknown = set(given) - set(WINDOWING)
    if unknown:
        raise ConfigError(f"windowing: {sorted(unknown)[0]} is not one of {', '.join(WINDOWING)}")
    overrides = {**given, "batch_size": batch_size, "num_workers": num_workers, "max_files": max_files,
                 **({"labels": dict(labels)} if labels else {})}
    model, data_cfg, name = embedder(encoder, run_dir, overrides, given=paths_or_folder is not None, options=encoder_options)
    if whole is not None:   # a Windowing replaces the base's (a None in it means none, not "keep")
        data_cfg = data_cfg.copy()
        data_cfg.update(whole)
    with _folder(paths_or_folder) as (root, original):
        dm = make_datamodule(data_cfg, OmegaConf.create(overrides), root)
        line = dm.resolve_windowing()   # clip_seconds / hop_seconds=auto: chosen from the folder's durations
        for said in (line, dm.windowing.native_line()):
            if said:
                print(said)
        dm.setup("predict")
        return embed_rows(model, dm, device, name, progress=progress, rename=original, store=store,
                          options=_options(encoder, encoder_options))


def embedder(encoder: str | Sequence[str], run_dir: PathLike | None, overrides: Mapping[str, Any], given: bool = True,
             options: Mapping[str, Any] | None = None) -> tuple[Any, Any, str]:
    """(model, base data config, encoder name): a train.py run's (encoder=blockae) or a pretrained encoder with
    conf/data/folder.yaml at its sample rate. The task's rules (builders.check_embedder) apply."""
    from omegaconf import OmegaConf

    from audioclust.tasks.builders import BLOCKAE, build_encoder, check_embedder, load_run

    if options and encoder == BLOCKAE:
        raise ConfigError("encoder_options: the block autoencoder's options are its train.py run's (run_dir)")
    node = OmegaConf.create({"name": BLOCKAE}) if encoder == BLOCKAE else _node(encoder, options)
    check_embedder(OmegaConf.create({"encoder": node, "run_dir": None if run_dir is None else str(run_dir),
                                     "data": {k: v for k, v in overrides.items() if k in WINDOWING}}))
    if encoder == BLOCKAE:
        run_cfg, model = load_run(run_dir)
        return model, run_cfg.data, encoder
    if not given:
        raise ConfigError(f"encoder={encoder} needs paths_or_folder: the audio to embed")
    model = build_encoder(node)
    data = _shipped("data/synthetic.yaml", "data/folder.yaml")
    data.update(sr=int(model.sr), seed=0, index_cache=None)
    return model, data, str(node.name)


def _node(encoder: str | Sequence[str], options: Mapping[str, Any] | None = None) -> Any:
    """A pretrained encoder's node (conf/encoder/<name>.yaml) with ``options`` over it, or encoder=mix's with a list
    of them as members."""
    from omegaconf import OmegaConf

    from audioclust.embed.encoders import registry
    from audioclust.tasks.builders import BLOCKAE, encoder_node

    if options and (not isinstance(encoder, str) or encoder == "mix"):
        raise ConfigError("encoder_options apply to one pretrained encoder; a mix takes its members' shipped options")
    if isinstance(encoder, str):
        node = registry.node("mix") if encoder == "mix" else encoder_node(encoder)   # mix: its shipped members
        for key, value in (options or {}).items():
            if key in ("name", "_target_") or key not in node:
                known = ", ".join(str(k) for k in node if k not in ("name", "_target_")) or "none"
                raise ConfigError(f"encoder_options: {key!r} is not an option of encoder={encoder} (its options: {known})")
            node[key] = value
        return node
    members = [str(m) for m in encoder]
    if BLOCKAE in members:
        raise ConfigError("encoder=[..., blockae]: a mix with the block autoencoder is made by audioclust-cluster "
                          "encoder=mix 'encoder.members=[...,blockae]' run_dir=<its train.py run>")
    if len(members) < 2 or len(set(members)) < len(members):
        raise ConfigError(f"encoder as a list is encoder=mix: at least two different pretrained encoders, got {members}")
    for m in members:
        encoder_node(m)   # each a pretrained encoder (one line naming them otherwise)
    node = registry.node("mix")
    node.members = members
    return OmegaConf.create(OmegaConf.to_container(node))


def embed_rows(model: Any, dm: Any, device: str, name: str, progress: bool = False,
               rename: Mapping[str, str] | None = None, store: PathLike | None = None,
               options: Mapping[str, Any] | None = None) -> Embeddings:
    """embed() then pooled() (a file up to pool_windows_up_to seconds: one row), as the task does, in memory;
    through the store at `store` (a folder) when given (`options`: the encoder's config node, part of its key)."""
    from omegaconf import OmegaConf

    from audioclust.embed.inference import embed as run_predict
    from audioclust.embed.inference import embed_members, pooled
    from audioclust.embed.store import Store, identity_of
    from audioclust.report.outputs import assignment_rows
    from audioclust.tasks.builders import members_at_rates

    model.predict_voice = False
    with _quiet(), tempfile.TemporaryDirectory(prefix="audioclust-rows-") as tmp:
        if getattr(model, "names", None):   # a mix: each member through its own store, as the task embeds it
            members = [(n, m, at, None if store is None else
                        Store(store, n, identity_of(cast(dict, OmegaConf.to_container(node, resolve=True)), m, at)))
                       for n, m, node, at in members_at_rates(model, dm)]
            emb = embed_members(members, device, out_dir=tmp, progress=progress) or {}
        else:
            kept = None if store is None else Store(store, name, identity_of(dict(options or {}), model, dm))
            emb = run_predict(model, dm, device, progress=progress, store=kept, out_dir=tmp) or {}   # one process: never None
        emb = {k: np.array(v) for k, v in pooled(emb, dm.index).items()}   # in memory: the folder goes
    ok = np.asarray(emb["ok"]).astype(bool)
    rows, skipped = assignment_rows(dm.index, emb["sample_id"], ok, np.zeros(int(ok.sum()), np.int64), np.zeros(int(ok.sum())))
    duration = dm.index.windowing.row_seconds(dm.index.durations, rows.file_ids)
    back = rename or {}
    label = tuple("" if v is None else str(v) for v in rows.labels) if rows.labels is not None else ()
    weights, groups = getattr(model, "dim_weights", None), getattr(model, "dim_groups", None)
    return Embeddings(tuple(back.get(p, p) for p in rows.paths), np.asarray(rows.offsets, np.float64), duration,
                      np.ascontiguousarray(emb["embedding"][ok], np.float32), name,
                      tuple({"path": back.get(s["path"], s["path"]), "reason": s["reason"]} for s in skipped), label,
                      None if weights is None else np.asarray(weights, np.float32),
                      None if groups is None else np.asarray(groups, np.int64))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Lightning's banners, tips and library warnings off a notebook's output while embedding (errors still show)."""
    names = ("lightning", "lightning.pytorch", "lightning.fabric")
    levels = [logging.getLogger(n).level for n in names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in names:
            logging.getLogger(n).setLevel(logging.ERROR)
        try:
            yield
        finally:
            for n, level in zip(names, levels):
                logging.getLogger(n).setLevel(level)


class _folder:
    """A folder as it is; a list of files: links to them in a temporary folder (removed after), with the map from
    each link back to its file."""

    def __init__(self, given: PathLike | Sequence[PathLike] | None):
        self.given: PathLike | Sequence[PathLike] | None = given
        self.tmp: str | None = None

    def __enter__(self) -> tuple[str | None, dict[str, str]]:
        if self.given is None or isinstance(self.given, (str, os.PathLike)):
            return (None if self.given is None else str(self.given)), {}
        self.tmp = tempfile.mkdtemp(prefix="audioclust-files-")
        back = {}
        for i, p in enumerate(self.given):
            src = Path(p).resolve()
            if not src.is_file():
                raise ConfigError(f"{p}: no such file")
            link = Path(str(self.tmp)) / f"{i:06d}" / src.parent.name / src.name   # the parent's name: labels.source=parent
            link.parent.mkdir(parents=True)
            link.symlink_to(src)
            back[str(link)] = str(p)
        return self.tmp, back

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _options(encoder: str | Sequence[str], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The encoder's config node (conf/encoder/<name>.yaml) as plain values: part of its store key."""
    from omegaconf import OmegaConf

    from audioclust.tasks.builders import BLOCKAE

    if encoder == BLOCKAE:
        return {"name": BLOCKAE}
    plain = OmegaConf.to_container(_node(encoder, options), resolve=True)
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items()}


def _is_shipped(name: str) -> bool:
    from importlib import resources

    return (resources.files("audioclust.conf") / name).is_file()


def _shipped(*names: str) -> Any:
    """conf/<name> as shipped in the package (audioclust.conf), merged in order, without Hydra's defaults list."""
    from importlib import resources

    from omegaconf import OmegaConf

    nodes = [OmegaConf.create((resources.files("audioclust.conf") / n).read_text()) for n in names]
    merged = OmegaConf.to_container(OmegaConf.merge(*nodes))
    assert isinstance(merged, dict)
    merged.pop("defaults", None)
    return OmegaConf.create(merged)


class Clusters:
    """Fitted clusters, scikit-learn shaped: labels_ (n,) int64 (-1: noise, for hdbscan), distances_ (n,) float32
    (to the row's centroid), centroids_ (k, d) in the reduced space; assign() puts new rows into them; state() /
    from_state() keep them as plain arrays (cluster.py's preprocess.npz)."""

    def __init__(self, clusterer: Any, labels: np.ndarray | None = None, distances: np.ndarray | None = None):
        self.clusterer = clusterer
        self.labels_, self.distances_ = labels, distances

    @property
    def centroids_(self) -> np.ndarray:
        return np.asarray(self.clusterer.centroids)

    @property
    def method(self) -> str:
        return str(self.clusterer.content.method.name)

    def assign(self, x: Embeddings | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels, distances) of new rows (embedded as the fitted ones were)."""
        with _quiet():
            labels, dists, _ = self.clusterer.assign(_array(x), None)
        return labels, dists

    def state(self) -> dict[str, np.ndarray]:
        return dict(self.clusterer.state())

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], gpu: str = "auto") -> Clusters:
        from audioclust.cluster.pipeline import Clusterer

        return cls(Clusterer.from_state(dict(state), gpu))


def cluster(x: Embeddings | np.ndarray, method: str = "kmeans", k: int | None = None, reduce: str | Mapping[str, Any] | None = None,
            preprocess: str = "l2", seed: int = 0, gpu: str = "auto", weights: np.ndarray | None = None,
            groups: np.ndarray | None = None, **options: Any) -> Clusters:
    """Clusters of the rows of x (Embeddings or an (n, d) array): preprocess (l2 | standard | none) -> reduce
    (umap | pca | none, or a dict of conf/cluster.yaml's reduce keys; default: its reduce, umap) -> method (kmeans | hdbscan | agglomerative;
    **options: its own, conf/cluster/method/<name>.yaml, e.g. niter=50, min_cluster_size=20). k: the number of
    clusters (kmeans, agglomerative, consensus); none for hdbscan. weights: (d,) factors of the columns after the z-score,
    as encoder=mix weighs its members (each member's dimensions by 1/sqrt(its dimension)); groups: (d,) each column's
    member, for method="consensus" (each member clustered on its own, then combined); default: the Embeddings'."""
    if groups is not None and method != "consensus":
        raise ConfigError(f"groups= is for method='consensus' (each member clustered on its own); method={method!r} "
                          "clusters every column together: leave groups out")
    if isinstance(x, Embeddings):
        weights = x.weights if weights is None else weights
        groups = x.groups if groups is None else groups
    clusterer = clusterer_of(method, k, reduce, preprocess, seed, gpu, options)
    with _quiet():   # umap-learn's and scikit-learn's warnings
        labels, dists, _, _ = clusterer.fit(_array(x), None, k, weights, groups)
    return Clusters(clusterer, labels, dists)


def clusterer_of(method: str, k: int | None, reduce: str | Mapping[str, Any] | None, preprocess: str, seed: int, gpu: str,
                 options: Mapping[str, Any]) -> Any:
    """The task's Clusterer (no voice groups) from keyword options over the shipped defaults."""
    from omegaconf import OmegaConf

    from audioclust.cluster.methods import RUN_KEYS, method_class, over_defaults
    from audioclust.cluster.pipeline import Clusterer, Stage

    checks.number("seed", seed, strict=False, integer=True)
    checks.number("k", k, integer=True, optional=True)
    shipped = _is_shipped(f"cluster/method/{method}.yaml")   # a method registered in code only has no defaults
    defaults: dict[str, Any] = {}
    if shipped:   # its node resolved as cluster.py composes it, beside the kmeans node (consensus: kmeans: ${kmeans})
        both = OmegaConf.create({"kmeans": _shipped("cluster/method/kmeans.yaml"), "node": _shipped(f"cluster/method/{method}.yaml")})
        node = OmegaConf.to_container(both.node, resolve=True)
        assert isinstance(node, dict)
        defaults = {str(key): v for key, v in node.items() if key not in (*RUN_KEYS, "_target_")}
    cls = method_class(method)
    try:
        m = cls(**over_defaults(defaults, {**defaults, **options}), seed=seed, gpu=gpu)
    except TypeError as e:   # an option the method does not take
        raise ConfigError(f"method={method}: {e}") from None
    if m.takes_k and k is None:
        raise ConfigError(f"method={method} needs k, the number of clusters")
    if not m.takes_k and k is not None:
        raise ConfigError(f"method={method} finds the number of clusters itself: drop k")
    red = {**_shipped("cluster.yaml").reduce, **({"method": reduce} if isinstance(reduce, str) else dict(reduce or {}))}
    return Clusterer(Stage(preprocess, red, m, seed))


def _array(x: Embeddings | np.ndarray) -> np.ndarray:
    a = x.vectors if isinstance(x, Embeddings) else np.asarray(x, np.float32)
    if a.ndim != 2 or not len(a):
        raise ConfigError(f"expected rows to cluster, an (n, d) array, got shape {a.shape}")
    return a


def write_outputs(clusters: Clusters, embeddings: Embeddings, folder: PathLike) -> Path:
    """cluster.py's tables of a fit: assignments.csv (one line per row of `embeddings`, as fitted or assigned),
    clusters.parquet, skipped.csv, embeddings.npy, centroids.npy and preprocess.npz (Clusters.from_state reads it back)."""
    from audioclust import io
    from audioclust.report.outputs import Rows, write_table

    labels, dists = _placed(clusters, embeddings)
    files, fids = np.unique(np.asarray(embeddings.path, dtype=object), return_inverse=True)
    per_file = {p: lab for p, lab in zip(embeddings.path, embeddings.label or [None] * len(embeddings))}
    rows = Rows(list(files), fids, embeddings.offset, labels, dists, [per_file[p] or None for p in files])
    out = Path(folder)
    rows.write_csv(out / "assignments.csv")
    write_table(out / "clusters.parquet", rows, embeddings.duration, embeddings.vectors)
    io.write_csv(out / "skipped.csv", list(embeddings.skipped), ["path", "reason"])
    io.write_npy(out / "embeddings.npy", embeddings.vectors)
    io.write_bytes(out / "preprocess.npz", npz_bytes(clusters.state()))
    io.write_npy(out / "centroids.npy", clusters.centroids_)
    return out


def export(clusters: Clusters, embeddings: Embeddings, folder: PathLike, *, raven: bool = True, audacity: bool = True,
           folders: bool = False, cut: bool = False) -> dict[str, list[Path]]:
    """Raven selection tables, Audacity label tracks, cluster folders (report/export.py) of the rows' clusters."""
    from audioclust.report.export import Assignment, export_all

    labels, dists = _placed(clusters, embeddings)
    rows = [Assignment(p, round(float(o), 3), float(d), int(c), round(float(s), 5), lab)
            for p, o, d, c, s, lab in zip(embeddings.path, embeddings.offset, embeddings.duration, labels, dists,
                                          embeddings.label or [""] * len(embeddings))]
    return export_all(rows, folder, raven=raven, audacity=audacity, folders=folders, cut=cut)


def _placed(clusters: Clusters, embeddings: Embeddings) -> tuple[np.ndarray, np.ndarray]:
    """The fitted rows' labels and distances when `embeddings` are those rows, else theirs assigned."""
    if clusters.labels_ is not None and clusters.distances_ is not None and len(clusters.labels_) == len(embeddings):
        return clusters.labels_, clusters.distances_
    return clusters.assign(embeddings)


def npz_bytes(state: Mapping[str, np.ndarray]) -> bytes:
    """A state (Clusters.state, Clusterer.state) as preprocess.npz's bytes."""
    import io as _io

    buf = _io.BytesIO()
    savez: Any = np.savez   # numpy's stub types **kwds as its allow_pickle
    savez(buf, **state)
    return buf.getvalue()


@dataclass(frozen=True, eq=False)
class Matches:
    """audioclust.search's answer: one line per query and neighbour, nearest first. query: which query (0..m-1, in
    the order given); rank: 1 = nearest; row: the neighbour's row in the searched set; distance: Euclidean in the
    index's space (default: the clusters', 0 to 2). path, offset, duration, label: the neighbour's, when the set
    searched is Embeddings; query_path, query_offset: the query's, when it is Embeddings or rows of the set."""
    query: np.ndarray
    rank: np.ndarray
    row: np.ndarray
    distance: np.ndarray
    path: tuple[str, ...] = ()
    offset: np.ndarray | None = None
    duration: np.ndarray | None = None
    label: tuple[str, ...] = ()
    query_path: tuple[str, ...] = ()
    query_offset: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.row)

    def columns(self) -> dict[str, Any]:
        """The filled columns, in table order: query, query_path, query_offset, rank, row, distance, path, offset,
        duration, label."""
        order = ["query", "query_path", "query_offset", "rank", "row", "distance", "path", "offset", "duration", "label"]
        return {k: getattr(self, k) for k in order if getattr(self, k) is not None and len(getattr(self, k))}

    def to_pandas(self) -> Any:
        """A DataFrame of columns()."""
        try:
            import pandas as pd
        except ImportError:
            raise ConfigError("Matches.to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame({k: list(v) if isinstance(v, tuple) else v for k, v in self.columns().items()})


def search(embeddings: Embeddings | np.ndarray, query: Embeddings | np.ndarray | int | Sequence[int], n: int = 10, *,
           space: str = "l2", index: Any = None, gpu: str = "auto") -> Matches:
    """The n nearest rows of `embeddings` (Embeddings or an (n, d) array) to each query: vectors ((m, d) or (d,)
    floats), row ids of the set (integers: each row's own row left out of its answer) or Embeddings of query audio
    (embedded with the same encoder). index: an audioclust.search.index.Index of these rows, built once for many
    searches (else built here: exact up to 100k rows, IVF above; space: l2 = the clusters', cosine, standard, none)."""
    from audioclust.search.index import Index

    checks.number("n", n, integer=True)
    x = _array(embeddings)
    if index is None:
        index = Index.build(x, space=space)
    elif len(index) != len(x):
        raise ConfigError(f"index has {len(index)} rows, the embeddings {len(x)}: build it from these embeddings")
    meta = embeddings if isinstance(embeddings, Embeddings) else None
    rows: np.ndarray | None = None
    qpath: tuple[str, ...] = ()
    qoffset: np.ndarray | None = None
    if isinstance(query, Embeddings):
        if meta is not None and query.encoder != meta.encoder:
            raise ConfigError(f"query embedded with {query.encoder}, the set with {meta.encoder}: embed both with one encoder")
        q, qpath, qoffset = query.vectors, query.path, query.offset
    else:
        q = np.asarray(query)
        if q.ndim <= 1 and q.dtype.kind in "iu":   # row ids
            rows = q.reshape(-1).astype(np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= len(x)):
                raise ConfigError(f"query rows must be between 0 and {len(x) - 1}")
            q = x[rows]
            if meta is not None:
                qpath, qoffset = tuple(meta.path[r] for r in rows), meta.offset[rows]
    if not np.size(q):
        raise ConfigError("search: no query (an empty array or list)")
    found = index.search(q, n + (rows is not None), gpu=gpu)
    keep = found.ids >= 0
    if rows is not None:
        keep &= found.ids != rows[:, None]
    ranks = np.cumsum(keep, axis=1)
    keep &= ranks <= n
    qi, col = np.nonzero(keep)
    row = found.ids[qi, col]
    return Matches(qi.astype(np.int64), ranks[qi, col].astype(np.int64), row, found.distances[qi, col],
                   tuple(meta.path[r] for r in row) if meta is not None else (),
                   meta.offset[row] if meta is not None else None, meta.duration[row] if meta is not None else None,
                   tuple(meta.label[r] for r in row) if meta is not None and meta.label else (),
                   tuple(qpath[i] for i in qi) if qpath else (), qoffset[qi] if qoffset is not None else None)
