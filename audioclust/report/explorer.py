"""explorer.html: a self-contained page to see and hear the clusters (opens from disk, no server, no internet).

The page (template: explorer.html next to this module, plain JS + canvas) shows a 2-D map of the clips coloured
by cluster (hover: file, cluster, distance; click: play) -- every clip up to report.explorer_max_points (20,000),
beyond that a seeded sample stratified by cluster (noise included) -- and a search box that finds ANY clip by file
name and time (cluster, onset, play from the onset) in a compact lookup of every clip (`clip_lookup`: about one
byte per window, so the page stays small at a million windows: bench/explorer.py), per cluster its size and most / least
typical clips with spectrogram thumbnails and play buttons, and, when labels exist, the clusters x labels
table and the scores. Each drawn clip also carries its report.explorer_neighbours (8) nearest drawn clips by the search
engine (`neighbours`: audioclust.search, the clusters' space; about 5.3 bytes per neighbour, 43 per drawn clip):
clicking a clip lists them ("more like this": file, time, cluster, distance, play) and rings them on the map.
Noise (cluster -1, HDBSCAN) is drawn grey under the clusters and listed as "noise": its own
legend button, the last card (clips closest to a cluster, and farthest from every cluster) and the last row of the
table. Audio is referenced by its path relative to the page; thumbnails are PNGs in
`explorer_files/` beside it. Everything here is plain data in, files out: no model, no config.
The page is also where the clusters are curated (docs/curation.md): select drawn clips (box, lasso, clicks), rename,
merge, split, move, mark noise, label, undo; the work is kept in the browser's localStorage under the fit's id
(`fit`, metrics.json's fit_id) and exported as a curation.json whose clips are rows of assignments.csv (`rows`: each
drawn clip's row, as gaps between sorted rows). The map can be coloured by cluster, name, label, folder, file or time.
"""
from __future__ import annotations

import io as _io
import json
import logging
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from audioclust import io

log = logging.getLogger(__name__)
TEMPLATE = Path(__file__).with_name("explorer.html")
FILES_DIR = "explorer_files"
MAP_METHODS = ("auto", "umap", "pca")


def map_2d(z: np.ndarray, method: str = "auto", umap_min: int = 200, seed: int = 0,
           fit_sample: int | None = 20000, gpu="auto") -> tuple[np.ndarray, str]:
    """2-D coordinates of every row of z and the method used: UMAP (auto: from umap_min rows, when
    umap-learn imports; fitted on at most fit_sample rows, the rest transformed; its neighbours found by FAISS where
    gpu says, the run's kmeans.gpu), else PCA (report.project_2d); fewer than 3 rows are laid out on a line."""
    if method not in MAP_METHODS:
        raise ValueError(f"unknown explorer map method {method!r}: use one of {MAP_METHODS}")
    z = np.asarray(z, dtype=np.float32)
    if len(z) < 3 or z.ndim != 2 or z.shape[1] < 2:
        return np.c_[np.arange(len(z), dtype=np.float64), np.zeros(len(z))], "index"
    if method == "umap" or (method == "auto" and len(z) >= umap_min):
        try:
            from audioclust.cluster.reduce import umap_fit

            xy = umap_fit(z, 2, 15, seed, fit_sample, min_dist=0.1, gpu=gpu)
            return np.asarray(xy, dtype=np.float64), "umap"
        except ImportError:
            log.warning("umap-learn is not installed: the explorer map uses PCA")
    from audioclust.report.plots import project_2d

    _, xy = project_2d(z, max_points=len(z), seed=seed)
    return xy, "pca"


def pick_extremes(dists, clusters, n_typical: int, n_atypical: int) -> dict[int, tuple[list[int], list[int]]]:
    """Per non-empty cluster: (indices of the n_typical clips closest to its centroid, closest first;
    indices of the n_atypical farthest ones, farthest first). The two never overlap: a small cluster gives
    at most half its clips to the atypical row and the rest (up to n_typical) to the typical one."""
    from audioclust.report.plots import pick_examples

    out = {}
    for k, order in pick_examples(dists, clusters, n=len(dists)).items():  # each cluster, closest first
        n_a = min(max(n_atypical, 0), len(order) // 2)  # small clusters: split, so both rows show something
        out[k] = (order[:min(max(n_typical, 0), len(order) - n_a)], order[::-1][:n_a])
    return out


def confusion(clusters, labels) -> dict | None:
    """Counts of clips per (cluster, label) over labelled clips; None when no clip has a label."""
    pairs = [(int(c), str(lab)) for c, lab in zip(clusters, labels) if lab is not None and lab != ""]
    if not pairs:
        return None
    names = sorted({lab for _, lab in pairs})
    ids = sorted({c for c, _ in pairs}, key=lambda c: (c < 0, c))   # noise (-1) last
    col, row = {n: j for j, n in enumerate(names)}, {c: i for i, c in enumerate(ids)}
    table = np.zeros((len(ids), len(names)), dtype=np.int64)
    for c, lab in pairs:
        table[row[c], col[lab]] += 1
    return {"labels": names, "clusters": ids, "counts": table.tolist()}


def audio_url(path: str, page_dir: Path) -> str:
    """The clip's URL relative to the page (percent-encoded), or an absolute file: URI where no relative
    path exists (another drive)."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(page_dir))
    except ValueError:
        return Path(path).resolve().as_uri()
    return quote(rel.replace(os.sep, "/"))


MIME = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/ogg",
        ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".webm": "audio/webm"}


def audio_sources(files: list[str], page_dir: Path, embed_mb: float = 0.0) -> list[str]:
    """One playable source per file: relative URLs, or, when all files together take at most embed_mb MB,
    data: URIs so that the page plays its clips wherever it is copied."""
    if embed_mb > 0 and all(Path(f).suffix.lower() in MIME and os.path.isfile(f) for f in files) \
            and sum(os.path.getsize(f) for f in files) <= embed_mb * 1e6:
        import base64

        return [f"data:{MIME[Path(f).suffix.lower()]};base64,{base64.b64encode(Path(f).read_bytes()).decode()}"
                for f in files]
    return [audio_url(f, page_dir) for f in files]


def spectrogram_png(spec: np.ndarray) -> bytes:
    """A small PNG of a (freq x time) log spectrogram, low frequencies at the bottom."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import image

    a = np.asarray(spec, dtype=np.float64).squeeze()
    if a.ndim != 2:
        raise ValueError(f"spectrogram must be 2-D (freq x time), got shape {np.shape(spec)}")
    lo, hi = np.nanpercentile(a, [2, 99.5]) if a.size else (0.0, 1.0)
    buf = _io.BytesIO()
    image.imsave(buf, np.nan_to_num(a), cmap="magma", origin="lower", vmin=lo, vmax=max(hi, lo + 1e-9),
                 format="png")
    return buf.getvalue()


def write_thumbnails(out: Path, specs: dict[int, np.ndarray]) -> dict[int, str]:
    """Write one PNG per clip index into out/explorer_files/; returns {clip index: page-relative URL}."""
    urls = {}
    for i, spec in specs.items():
        name = f"clip_{int(i)}.png"
        io.write_bytes(out / FILES_DIR / name, spectrogram_png(spec))
        urls[int(i)] = f"{FILES_DIR}/{name}"
    return urls


def page_data(xy, clusters, dists, paths, offsets, labels, out: Path, *, drawn=None, picks=None, thumbs=None,
              scores=None, clip_seconds=None, windows=False, method="pca", title="clusters",
              embed_audio_mb: float = 0.0, similar=None) -> dict:
    """Everything the page shows, as one JSON-able dict (per-point values in columns to keep it small).

    clusters, dists, paths, offsets and labels have one entry per clip; drawn: the clips on the map (sorted
    indices; None: every clip), xy one row per drawn clip; picks (the cluster cards' clips) must be drawn. Every
    clip, drawn or not, can be found by file and time through `lookup` (clip_lookup). similar: (ids, distances), each
    drawn clip's nearest drawn clips (positions among the drawn, as `neighbours` gives them), packed by pack_similar."""
    clusters = np.asarray(clusters, dtype=np.int64)
    n = len(clusters)
    if not (len(dists) == len(paths) == len(offsets) == len(labels) == n):
        raise ValueError("clusters, dists, paths, offsets and labels must have one entry per clip")
    drawn = np.arange(n) if drawn is None else np.asarray(drawn, dtype=np.int64)
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) != len(drawn) or (len(drawn) and (np.any(np.diff(drawn) <= 0) or drawn[0] < 0 or drawn[-1] >= n)):
        raise ValueError("drawn must be sorted clip indices, and xy must have one row per drawn clip")
    files = sorted(set(paths))
    folders, folder_of = folder_names(files)
    fid = {p: i for i, p in enumerate(files)}
    f_all = np.fromiter((fid[p] for p in paths), np.int64, n)
    names = sorted({str(v) for v in labels if v is not None and v != ""})
    lid = {v: i for i, v in enumerate(names)}
    thumbs = thumbs or {}
    ids, counts = np.unique(clusters, return_counts=True)
    sizes = dict(zip(ids.tolist(), counts.tolist()))
    at = {int(i): j for j, i in enumerate(drawn)}   # clip index -> position among the drawn points

    def point(i):
        if int(i) not in at:
            raise ValueError(f"clip {int(i)} of a cluster card is not among the drawn clips")
        return {"i": at[int(i)], "thumb": thumbs.get(int(i))}

    cards = []
    for k, (typ, atyp) in sorted((picks or pick_extremes(dists, clusters, 0, 0)).items(), key=lambda kv: (kv[0] < 0, kv[0])):
        cards.append({"id": k, "size": int(sizes[k]), "typical": [point(i) for i in typ],
                      "atypical": [point(i) for i in atyp]})
    offsets = np.asarray(offsets, dtype=np.float64)
    return {
        "title": title, "fit": (scores or {}).get("fit_id"), "n": n, "k": int((ids >= 0).sum()), "noise": int(sizes.get(-1, 0)),
        "method": method, "rows": None if len(drawn) == n else np.diff(drawn, prepend=0).tolist(),   # gaps: a few bytes a clip
        "x": np.round(xy[:, 0], 4).tolist(), "y": np.round(xy[:, 1], 4).tolist(), "c": clusters[drawn].tolist(),
        "d": np.round(np.asarray(dists, dtype=np.float64)[drawn], 4).tolist(),
        "f": f_all[drawn].tolist(), "o": np.round(offsets[drawn], 3).tolist(),
        "l": [lid.get(str(labels[i]), -1) if labels[i] is not None and labels[i] != "" else -1 for i in drawn],
        "files": audio_sources(files, out, embed_audio_mb), "names": [os.path.basename(p) for p in files],
        "folders": folders, "fd": folder_of,
        "labels": names, "clipSeconds": clip_seconds, "windows": bool(windows),
        "lookup": clip_lookup(f_all, offsets, clusters, len(files)),
        "clusters": cards, "scores": _scores(scores), "confusion": confusion(clusters, labels),
        "similar": None if similar is None else pack_similar(*similar, len(drawn)),
    }


def folder_names(files: list[str]) -> tuple[list[str], list[int]]:
    """(the files' folders, named from their common parent down: "rec/site_a"; each file's folder number)."""
    dirs = [os.path.dirname(os.path.abspath(f)) for f in files]
    uniq = sorted(set(dirs))
    try:
        top = os.path.dirname(os.path.commonpath(uniq)) if uniq else ""
    except ValueError:   # on several drives
        top = ""
    names = [os.path.relpath(d, top).replace(os.sep, "/") if top else d for d in uniq]
    at = {d: j for j, d in enumerate(uniq)}
    return names, [at[d] for d in dirs]


def neighbours(x, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's n nearest other rows of x ((m, d) embeddings), nearest first, by the search engine
    (audioclust.search: the clusters' space, z-score then unit length, fitted on these rows; exact FAISS up to
    100k rows): (ids (m, n') int64, distances (m, n') float32), n' = min(n, m - 1); -1 / inf where an approximate
    index found fewer."""
    from audioclust.search.index import Index

    x = np.asarray(x)
    n = min(int(n), len(x) - 1)
    ids, dist = np.full((len(x), max(n, 0)), -1, np.int64), np.full((len(x), max(n, 0)), np.inf, np.float32)
    if n > 0:
        found = Index.build(x).search(x, n + 1)
        keep = (found.ids >= 0) & (found.ids != np.arange(len(x))[:, None])   # each row's own row left out
        rank = np.cumsum(keep, axis=1)
        keep &= rank <= n
        q, col = np.nonzero(keep)
        ids[q, rank[q, col] - 1], dist[q, rank[q, col] - 1] = found.ids[q, col], found.distances[q, col]
    return ids, dist


def pack_similar(ids, dists, n_points: int) -> dict:
    """neighbours' answer for the page, little-endian base64: `i` the ids (uint16 below 65,535 points, else uint32;
    the type's largest value where none), `d` the distances in thousandths (uint16; 65,535 where none), `n`
    neighbours a point. 4 bytes a neighbour (6 from 65,535 points), 5.3 characters in base64."""
    import base64

    ids, dists = np.asarray(ids, np.int64), np.asarray(dists, np.float64)
    if ids.ndim != 2 or ids.shape != dists.shape or len(ids) != n_points:
        raise ValueError(f"similar: ids and distances must be ({n_points}, n), one row per drawn clip; got {ids.shape}, {dists.shape}")
    kind = "<u2" if n_points < 0xFFFF else "<u4"
    i = np.where(ids < 0, np.iinfo(np.dtype(kind)).max, ids).astype(kind)
    d = np.where(np.isfinite(dists) & (ids >= 0), np.clip(np.round(dists * 1000), 0, 0xFFFE), 0xFFFF).astype("<u2")
    i, d = (base64.b64encode(a.tobytes()).decode("ascii") for a in (i, d))
    return {"n": int(ids.shape[1]), "bytes": np.dtype(kind).itemsize, "i": i, "d": d}


ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"   # 64 digits of the cluster string


def clip_lookup(file_ids, offsets, clusters, n_files: int) -> dict:
    """Every clip, compactly, so the page finds any of them by file and time: per file its window onsets as runs
    [start, step, count, ...] (a long recording windowed every hop seconds is one or two runs) and the cluster of
    each window in onset order as a string of `w` base-64 digits per window (cluster + 1: noise is 0), e.g.
    1 byte per window for up to 63 clusters."""
    file_ids, offsets = np.asarray(file_ids, np.int64), np.round(np.asarray(offsets, np.float64), 3)
    code = np.asarray(clusters, np.int64) + 1
    width = max(1, int(np.ceil(np.log(int(code.max(initial=0)) + 1) / np.log(64))) if len(code) else 1)
    digits = code[:, None] // 64 ** np.arange(width - 1, -1, -1) % 64
    text = np.frombuffer(ALPHABET.encode(), np.uint8)[digits].reshape(-1, width)
    order = np.lexsort((offsets, file_ids))
    bounds = np.searchsorted(file_ids[order], np.arange(n_files + 1))
    per_file = []
    for f in range(n_files):
        rows = order[bounds[f]: bounds[f + 1]]
        per_file.append({"r": offset_runs(offsets[rows]), "c": text[rows].tobytes().decode("ascii")})
    return {"w": width, "files": per_file}


def offset_runs(onsets: np.ndarray) -> list[float]:
    """[start, step, count, ...]: sorted onsets as runs of equal steps (step 0 for a run of one)."""
    o = np.asarray(onsets, np.float64)
    d = np.round(np.diff(o), 6)
    change = np.r_[np.flatnonzero(d[1:] != d[:-1]) + 1, len(d)]   # where a step differs from the one before
    out, i = [], 0
    while i < len(o):
        if i == len(o) - 1:
            out += [round(float(o[i]), 3), 0, 1]
            break
        j = int(change[np.searchsorted(change, i, side="right")])   # o[i..j] are evenly spaced
        out += [round(float(o[i]), 3), float(d[i]), j - i + 1]
        i = j + 1
    return out


def _scores(scores: dict | None) -> dict:
    keys = ("acc", "nmi", "ami", "ari", "silhouette", "noise_fraction", "acc_clustered", "nmi_clustered", "ami_clustered",
            "ari_clustered")
    return {k: float(scores[k]) for k in keys if scores and isinstance(scores.get(k), (int, float))}


def render(data: dict) -> str:
    """The page: the template with the data as inline JSON, every '<' escaped (only strings hold one), so no
    file name or label can end the script or open a comment."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    page = TEMPLATE.read_text(encoding="utf-8")
    title = (str(data.get("title", "clusters")).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return page.replace("__TITLE__", title).replace("__DATA__", payload)


def write_page(out: Path, data: dict) -> Path:
    path = Path(out) / "explorer.html"
    io.write_text(path, render(data))
    return path
