"""Index a folder: which files are usable, which windows of them are samples, which were skipped and why.

Probing (format, rate, length of every file) is done once, in a thread pool, and kept in a cache file under
`cache_dir` named by a hash of the absolute data root, so every DDP rank and every cluster run over the same
data reuses it. A cached entry is used while its file's size and mtime are unchanged; files added since are
probed, files removed are dropped from the cache. With an activity detector (`segment`), each file's events and
quiet stretches are cached in the same entry, keyed by the detector's settings and the sample rate.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from audioclust import io
from audioclust.data.audio import AudioInfo, not_audio_line, probe, walk_audio
from audioclust.data.windowing import Windowing
from audioclust.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
# reasons that depend on more than the file's bytes (permissions, what the path is): probed again every time
_UNCACHED = ("permission denied", "cannot open", "is a directory", "missing file", "not a regular file")


@dataclass
class Index:
    files: list[str] = field(default_factory=list)       # usable files, sorted
    labels: list = field(default_factory=list)           # one label (or None) per usable file
    file_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # per sample
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # per sample, seconds
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    durations: list[float] = field(default_factory=list)          # seconds, per usable file
    # with an activity detector: (path, start, end, kind 'event' | 'quiet', reason), tiling every usable file
    segments: list[tuple[str, float, float, str, str]] = field(default_factory=list)
    not_audio: dict[str, int] = field(default_factory=dict)       # files under the root that are not audio, by extension
    windowing: Windowing = field(default_factory=lambda: Windowing(hop_seconds=None))   # how the files were cut

    def __len__(self) -> int:
        return len(self.file_ids)


def cache_file(cache_dir, root) -> Path:
    """The index cache of a data root: <cache_dir>/<hash of the absolute root>.json."""
    key = hashlib.sha256(os.path.abspath(os.fspath(root)).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{key}.json"


class IndexCache:
    """Probe results (and detector results) per file relative to the root, valid while (size, mtime) match."""

    def __init__(self, cache_dir, root):
        self.root = os.path.abspath(os.fspath(root))
        self.path = None if cache_dir in (None, "") else cache_file(cache_dir, root)
        self.entries: dict[str, dict] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") == CACHE_VERSION and data.get("root") == self.root:
                    self.entries = dict(data["files"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("index cache %s unreadable (%s): probing again", self.path, exc)

    def rel(self, path) -> str:
        return os.path.relpath(os.path.abspath(os.fspath(path)), self.root)

    def lookup(self, rel: str, st: os.stat_result) -> dict | None:
        e = self.entries.get(rel)
        return e if e is not None and e.get("size") == st.st_size and e.get("mtime_ns") == st.st_mtime_ns else None

    def put(self, rel: str, entry: dict) -> None:
        self.entries[rel] = entry
        self.dirty = True

    def keep_only(self, rels) -> None:
        """Forget files that are no longer under the root."""
        gone = set(self.entries) - set(rels)
        for r in gone:
            del self.entries[r]
        self.dirty |= bool(gone)

    def save(self) -> None:
        """Atomic write (temp file + rename): concurrent writers (DDP ranks) each leave a whole, valid file."""
        if self.path is None or not self.dirty:
            return
        try:
            io.write_text(self.path, json.dumps({"version": CACHE_VERSION, "root": self.root, "files": self.entries},
                                                separators=(",", ":")))
            self.dirty = False
        except OSError as exc:  # a read-only cache dir costs speed, not the run
            log.warning("could not write the index cache %s: %s", self.path, exc)


@dataclass
class Scan:
    """Every listed file with its header (AudioInfo) or the one-line reason it is unusable."""
    root: str
    paths: list[str]
    results: list                    # AudioInfo | str, one per path
    cache: IndexCache
    n_probed: int = 0                # files actually opened this time (not answered by the cache)
    not_audio: dict = field(default_factory=dict)   # the other files under the root, by extension (walk_audio)

    def durations(self) -> list[float]:
        return [r.frames / r.samplerate for r in self.results if isinstance(r, AudioInfo)]


def _workers(n: int, workers: int | None) -> int:
    return max(1, min(n, workers or min(16, 4 * (os.cpu_count() or 1))))


def scan(root, max_files: int | None = None, cache_dir=None, workers: int | None = None) -> Scan:
    """List the audio files under root and probe each one not answered by the cache, in a thread pool
    (soundfile releases the GIL while it reads a header)."""
    listed, not_audio = walk_audio(root)
    if not listed:
        raise DataError(f"no audio files found under {root} (looked for wav, flac, ogg, mp3, m4a, aiff, ...)")
    paths = listed
    if max_files and max_files < len(paths):  # an evenly spread, deterministic subset
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, max_files).round().astype(int)]
    cache = IndexCache(cache_dir, root)

    def one(path):
        rel = cache.rel(path)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            hit = cache.lookup(rel, st)
            if hit is not None:
                return rel, None, (hit["error"] if "error" in hit else
                                   AudioInfo(str(path), hit["frames"], hit["samplerate"], hit["channels"]))
        try:
            info = probe(path)
        except DataError as exc:
            reason = str(exc)
            keep = st is not None and stat.S_ISREG(st.st_mode) and not reason.startswith(_UNCACHED)
            return rel, ({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "error": reason} if keep else False), reason
        entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "frames": info.frames,
                 "samplerate": info.samplerate, "channels": info.channels}
        return rel, entry, info

    results, n_probed = [], 0
    with ThreadPoolExecutor(_workers(len(paths), workers)) as pool:
        for rel, entry, res in tqdm(pool.map(one, paths), total=len(paths), desc="indexing", unit="file",
                                    leave=False, disable=None):  # None: no bar off a terminal
            results.append(res)
            if entry is not None:
                n_probed += 1
                if entry:
                    cache.put(rel, entry)
    cache.keep_only(cache.rel(p) for p in listed)
    cache.save()
    if n_probed and cache.path is not None:
        log.info("probed %d of %d files (the others from the index cache); cached in %s", n_probed, len(paths), cache.path)
    return Scan(str(root), [str(p) for p in paths], results, cache, n_probed, not_audio)


def build_index(root, windowing: Windowing, labeller=None, strict: bool = False, max_files: int | None = None,
                cache_dir=None, sr: int | None = None, scanned: Scan | None = None, workers: int | None = None) -> Index:
    """Probe every audio file under root; usable ones become samples (cut by `windowing`, resolved: no "auto"), the
    rest are listed with a reason.

    With a detector (windowing.segment) each file's events become windows and every second of it is listed in
    `Index.segments` as event or quiet; files without events are skipped with that reason. sr: the rate the
    detector runs at (the data's)."""
    sc = scanned or scan(root, max_files, cache_dir, workers)
    segment = windowing.segment
    idx = Index(windowing=windowing)
    usable = []
    for path, res in zip(sc.paths, sc.results):
        if isinstance(res, AudioInfo):
            usable.append((path, res))
        elif strict:
            raise DataError(f"{path}: {res} (data.strict=true)")
        else:
            idx.skipped.append((path, res))
    segs = _segment_all(sc, usable, segment, sr, workers) if segment is not None else None
    fids, offs = [], []
    for i, (path, info) in enumerate(usable):
        duration = info.frames / info.samplerate
        if segs is None:
            starts = windowing.offsets(duration)
        else:
            if "error" in segs[i]:
                if strict:
                    raise DataError(f"{path}: {segs[i]['error']} (data.strict=true)")
                idx.skipped.append((path, segs[i]["error"]))
                continue
            starts = _event_starts(segs[i], windowing, idx, path)
            if not starts:
                idx.skipped.append((path, "no sound events above the noise floor (quiet stretches in segments.csv)"))
                continue
        fids += [len(idx.files)] * len(starts)
        offs += starts
        idx.files.append(path)
        idx.durations.append(duration)
        idx.labels.append(labeller(path) if labeller else None)
    if not idx.files:
        reasons = "; ".join(f"{p}: {r}" for p, r in idx.skipped[:3])
        raise DataError(f"no readable audio under {root}: {len(idx.skipped)} files skipped ({reasons})")
    idx.file_ids, idx.offsets = np.asarray(fids, np.int64), np.asarray(offs, np.float64)
    idx.not_audio = dict(sc.not_audio)
    if idx.not_audio:
        log.info("%s", not_audio_line(idx.not_audio))
    if idx.skipped:
        log.warning("skipped %d of %d files (listed in the outputs)", len(idx.skipped), len(sc.paths))
    return idx


def segment_key(segment, sr: int | None) -> str:
    return hashlib.sha256(json.dumps({"cfg": asdict(segment), "sr": sr}, sort_keys=True).encode()).hexdigest()[:16]


def _segment_all(sc: Scan, usable, segment, sr, workers) -> list[dict]:
    """Each usable file's events and quiet stretches ({sr, n, events [[a, b]], quiet [[a, b, reason]]}, in
    samples at `sr`), from the cache or the detector (in a thread pool), the new ones stored in the cache."""
    from audioclust.data.segment import detect_file

    key = segment_key(segment, sr)

    def one(item):
        path, _ = item
        rel = sc.cache.rel(path)
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DataError(f"{path}: vanished while indexing ({exc})") from None
        hit = sc.cache.lookup(rel, st)
        if hit is not None and key in hit.get("segments", {}):
            return rel, None, hit["segments"][key]
        try:
            s = detect_file(path, sr, segment)
        except DataError as exc:   # undecodable past its header: skipped with the reason, like a bad header
            return rel, None, {"error": str(exc)}
        res = {"sr": s.sr, "n": s.n_samples, "events": s.event_samples.tolist(),
               "quiet": [[int(a), int(b), r] for (a, b), r in zip(s.quiet_samples, s.quiet_reasons)]}
        return rel, (hit, st), res

    out = []
    with ThreadPoolExecutor(_workers(len(usable), workers)) as pool:
        for rel, new, res in tqdm(pool.map(one, usable), total=len(usable), desc="detecting", unit="file",
                                  leave=False, disable=None):
            out.append(res)
            if new is not None:
                hit, st = new
                entry = dict(hit) if hit is not None else dict(sc.cache.entries.get(rel) or {})
                if entry.get("size") != st.st_size or entry.get("mtime_ns") != st.st_mtime_ns:
                    entry = {}
                if entry:
                    entry["segments"] = {**entry.get("segments", {}), key: res}
                    sc.cache.put(rel, entry)
    sc.cache.save()
    return out


def _event_starts(seg: dict, windowing: Windowing, idx: Index, path: str) -> list[float]:
    """Window starts at the events of one file; its events and quiet stretches appended to idx.segments."""
    sr, n = seg["sr"], seg["n"]
    events = [(a / sr, b / sr) for a, b in seg["events"]]
    rows = [(path, a / sr, b / sr, "event", windowing.segment.describe_event()) for a, b in seg["events"]]
    rows += [(path, a / sr, b / sr, "quiet", r) for a, b, r in seg["quiet"]]
    idx.segments += sorted(rows, key=lambda r: r[1])
    return windowing.event_offsets(events, n / sr)


def split_files(n_files: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of file ids (not windows, so that one file never lands in both)."""
    perm = np.random.default_rng(seed).permutation(n_files)
    n_val = int(round(n_files * val_fraction)) if n_files > 1 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 and n_files > 1 else 0), n_files - 1)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])
