"""Annotation-tool exports of a clustering: Raven Pro selection tables, Audacity label tracks, per-cluster folders.

Input is a list of `Assignment` rows (one per clip window: file, offset, duration, cluster, distance to the
centroid, optional true label); cluster -1 is noise (HDBSCAN). `read_assignments(csv, duration)` reads the
cluster task's assignments.csv (columns path, offset, cluster, distance, label; the window length is the data
config's clip_seconds, which the csv does not repeat).

Outputs (every file written atomically: temp file in the same folder + rename):

- `raven/<stem>.Table.1.selections.txt` per recording: Raven Pro's tab-separated selection table, columns
  Selection, View ("Spectrogram 1"), Channel (1), Begin Time (s), End Time (s), Low Freq (Hz) (0), High Freq (Hz)
  (half the file's sample rate, read from its header; empty when the file cannot be read), then Annotation (c3 /
  noise), Cluster, Distance and, when any row has one, Label;
- `raven/all.Table.1.selections.txt` for the whole run, as Raven writes a table over a file sequence: Begin Time
  (s) and End Time (s) on the timeline of the files played one after another in the order of their sorted paths
  (open them in Raven in that order), plus Begin Path (absolute), Begin File (name) and File Offset (s) (the
  time within the file). A file's length comes from its header; when it cannot be read, the end of its last
  window stands in for it;
- `audacity/<stem>.labels.txt` per recording: Audacity label track lines `start<TAB>end<TAB>label` (label c3 or
  noise), importable with File > Import > Labels;
- optional `clusters/<c3|noise>/` folders for sample-library users: per clip, named
  `<rank>_<stem>@<offset>s.<ext>` with rank 1 the closest to the centroid, either a symlink to the source file
  (cut=False: useful when every clip is a whole file, a symlink cannot point into the middle of a recording) or a
  WAV copy of just the window (cut=True, at the file's own rate and channels). The folder tree is rebuilt on
  every export (built next to the old one, then swapped in); a `clusters/` folder that this module did not write
  (no marker file) is never touched.

File names: a recording's stem, or, where two recordings share a stem, its path relative to the common folder
with '/' replaced by '__'.
"""
from __future__ import annotations

import csv
import math
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from audioclust.errors import DataError

RAVEN_COLUMNS = ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"]
RAVEN_SEQUENCE_COLUMNS = ["Begin Path", "Begin File", "File Offset (s)"]
RAVEN_SUFFIX = ".Table.1.selections.txt"
AUDACITY_SUFFIX = ".labels.txt"
RUN_TABLE = "all"
MARKER = ".audioclust-export"


@dataclass(frozen=True)
class Assignment:
    path: str
    offset: float          # window start in the file, seconds
    duration: float        # window length, seconds
    cluster: int           # -1 = noise
    distance: float        # to the cluster's centroid (nan when none)
    label: str = ""        # the true label where the data has one
    name: str = ""         # the name a curation gave it (audioclust-curate): what exports call it

    def __post_init__(self):
        if not self.path:
            raise DataError("assignment without a path")
        if not (math.isfinite(self.offset) and self.offset >= 0):
            raise DataError(f"{self.path}: offset must be >= 0 s, got {self.offset}")
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise DataError(f"{self.path}: duration must be > 0 s, got {self.duration}")
        if isinstance(self.cluster, bool) or int(self.cluster) != self.cluster or self.cluster < -1:
            raise DataError(f"{self.path}: cluster must be an integer >= -1 (-1 = noise), got {self.cluster!r}")

    @property
    def end(self) -> float:
        return self.offset + self.duration

    @property
    def title(self) -> str:
        """What annotation tools show: the curated name, else c<cluster> (noise: noise)."""
        return self.name or cluster_name(self.cluster)


def cluster_name(cluster: int) -> str:
    return "noise" if cluster == -1 else f"c{int(cluster)}"


def folder_name(r: Assignment) -> str:
    """A clip's folder among the per-cluster ones: its title with what a file system refuses (/, \\, NUL, control
    characters, a leading dot) replaced by _."""
    name = "".join("_" if ch in '/\\:*?"<>|' or ord(ch) < 32 else ch for ch in r.title).strip() or cluster_name(r.cluster)
    name = ("_" + name[1:] if name.startswith(".") else name).encode()[:200].decode(errors="ignore")   # under NAME_MAX
    return name


def folder_names(rows: list[Assignment]) -> dict[str, str]:
    """Each title's folder (folder_name), unique: a title whose folder another title already has, as the file
    system compares names (case-insensitively on macOS and Windows: "Bird" and "bird", "a/b" and "a:b"), gets
    "~2", "~3", ... in title order, so that no two clusters share a folder."""
    first: dict[str, Assignment] = {}
    for r in rows:
        first.setdefault(r.title, r)
    out, taken = {}, set()
    for title in sorted(first):
        base = name = folder_name(first[title])
        n = 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}~{n}"
        taken.add(name.casefold())
        out[title] = name
    return out


def read_assignments(csv_path: str | os.PathLike, duration: float) -> list[Assignment]:
    """Rows of the cluster task's assignments.csv; `duration` is the window length (data.clip_seconds)."""
    rows = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "offset", "cluster"} - set(reader.fieldnames or [])
        if missing:
            raise DataError(f"{csv_path}: missing column(s) {', '.join(sorted(missing))}")
        for i, r in enumerate(reader, start=2):
            try:
                d = r.get("distance", "")
                rows.append(Assignment(r["path"], float(r["offset"]), float(duration), int(r["cluster"]),
                                       float(d) if d not in ("", None) else float("nan"), r.get("label") or "",
                                       r.get("name") or ""))
            except ValueError as exc:
                raise DataError(f"{csv_path} line {i}: {exc}") from None
    return rows


def _write_text(path: Path, text: str) -> None:
    from audioclust.io import write_text

    write_text(path, text)


def _stems(paths) -> dict[str, str]:
    """File-name stem per recording, unique within the run."""
    paths = sorted(set(paths))
    stems = {p: Path(p).stem for p in paths}
    count = defaultdict(int)
    for s in stems.values():
        count[s] += 1
    clash = [p for p in paths if count[stems[p]] > 1]
    if clash:
        root = os.path.commonpath([os.path.abspath(p) for p in clash])
        for p in clash:
            rel = os.path.relpath(os.path.abspath(p), root)
            stems[p] = str(Path(rel).with_suffix("")).replace(os.sep, "__")
    return stems


def _info(path: str):
    """(samplerate, seconds) from the header, or (None, None)."""
    from audioclust.data.audio import probe

    try:
        info = probe(path)
    except Exception:
        return None, None
    return info.samplerate, info.frames / info.samplerate


def _fmt(v: float) -> str:
    return "nan" if isinstance(v, float) and math.isnan(v) else f"{v:.6f}"


def _by_file(rows: list[Assignment]) -> dict[str, list[Assignment]]:
    files: dict[str, list[Assignment]] = defaultdict(list)
    for r in rows:
        files[r.path].append(r)
    return {p: sorted(rs, key=lambda r: (r.offset, r.end, r.cluster)) for p, rs in sorted(files.items())}


def write_raven(rows: list[Assignment], out_dir: str | os.PathLike) -> list[Path]:
    """Per-recording selection tables and the whole-run one (last in the list); see the module docstring."""
    out_dir = Path(out_dir)
    files = _by_file(rows)
    stems = _stems(files)
    with_label = any(r.label for r in rows)
    extra = ["Annotation", "Cluster", "Distance"] + (["Label"] if with_label else [])

    def tail(r: Assignment) -> list[str]:
        return [r.title, str(int(r.cluster)), _fmt(r.distance)] + ([r.label] if with_label else [])

    written, run_lines, start, sel = [], [], 0.0, 0
    for path, rs in files.items():
        sr, seconds = _info(path)
        high = f"{sr / 2:g}" if sr else ""
        lines = ["\t".join(RAVEN_COLUMNS + extra)]
        for i, r in enumerate(rs, start=1):
            end = min(r.end, seconds) if seconds else r.end
            lines.append("\t".join([str(i), "Spectrogram 1", "1", _fmt(r.offset), _fmt(end), "0", high] + tail(r)))
        p = out_dir / f"{stems[path]}{RAVEN_SUFFIX}"
        _write_text(p, "\n".join(lines) + "\n")
        written.append(p)
        for r in rs:
            sel += 1
            end = min(r.end, seconds) if seconds else r.end
            run_lines.append("\t".join([str(sel), "Spectrogram 1", "1", _fmt(start + r.offset), _fmt(start + end), "0",
                                        high, os.path.abspath(path), Path(path).name, _fmt(r.offset)] + tail(r)))
        start += seconds if seconds else max(r.end for r in rs)
    p = out_dir / f"{RUN_TABLE}{RAVEN_SUFFIX}"
    _write_text(p, "\n".join(["\t".join(RAVEN_COLUMNS + RAVEN_SEQUENCE_COLUMNS + extra)] + run_lines) + "\n")
    written.append(p)
    return written


def write_audacity(rows: list[Assignment], out_dir: str | os.PathLike) -> list[Path]:
    """One Audacity label track per recording: start<TAB>end<TAB>c3|noise."""
    out_dir = Path(out_dir)
    files = _by_file(rows)
    stems = _stems(files)
    written = []
    for path, rs in files.items():
        text = "".join(f"{_fmt(r.offset)}\t{_fmt(r.end)}\t{r.title}\n" for r in rs)
        p = out_dir / f"{stems[path]}{AUDACITY_SUFFIX}"
        _write_text(p, text)
        written.append(p)
    return written


def write_cluster_folders(rows: list[Assignment], out_dir: str | os.PathLike, cut: bool = False) -> list[Path]:
    """`out_dir/clusters/<c3|noise|name>/<rank>_<stem>@<offset>s.<ext>`: symlinks to the files, or (cut) WAV
    windows; a curated name is the folder's name (folder_names: one folder per title)."""
    import numpy as np
    import soundfile as sf

    from audioclust.data.audio import read_ffmpeg, uses_ffmpeg
    from audioclust.io import temp_beside

    out_dir = Path(out_dir)
    final = out_dir / "clusters"
    if final.exists() and not (final / MARKER).exists():
        raise DataError(f"{final} exists and was not written by this export: move it away or choose another folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = _stems(r.path for r in rows)
    groups: dict[str, list[Assignment]] = defaultdict(list)
    folder_of = folder_names(rows)
    for r in rows:
        groups[folder_of[r.title]].append(r)
    build = temp_beside(final, "", folder=True)   # the umask's mode, as the rest of the outputs
    written = []
    try:
        (build / MARKER).write_text("written by audioclust.report.export; replaced on every export\n")
        for c in sorted(groups):
            folder = build / c
            folder.mkdir()
            rs = sorted(groups[c], key=lambda r: (math.isnan(r.distance), r.distance, r.path, r.offset))
            width = len(str(len(rs)))
            for rank, r in enumerate(rs, start=1):
                ext = ".wav" if cut else Path(r.path).suffix
                name = f"{rank:0{width}d}_{stems[r.path]}@{r.offset:.3f}s{ext}"
                if cut:
                    try:
                        if uses_ffmpeg(r.path):   # m4a, mp4, ...: FFmpeg's samples, as 32-bit float WAV
                            (x, sr), subtype = read_ffmpeg(r.path, r.offset, r.duration), "FLOAT"
                        else:
                            with sf.SoundFile(r.path) as f:
                                sr = f.samplerate
                                f.seek(min(int(round(r.offset * sr)), f.frames))
                                x = f.read(frames=int(round(r.duration * sr)), dtype="float32", always_2d=True)
                                subtype = f.subtype if sf.check_format("WAV", f.subtype) else "FLOAT"
                    except Exception as exc:
                        raise DataError(f"cannot cut {r.path} at {r.offset:g} s: {str(exc).splitlines()[0][:200]}") \
                            from None
                    sf.write(folder / name, np.ascontiguousarray(x), sr, subtype=subtype)
                else:
                    os.symlink(os.path.abspath(r.path), folder / name)
                written.append(final / c / name)
        old = None
        if final.exists():
            old = temp_beside(final, ".old", folder=True)
            os.replace(final, old / "clusters")
        os.replace(build, final)
        if old is not None:
            shutil.rmtree(old)
    finally:
        if build.exists():
            shutil.rmtree(build)
    return written


def export_all(rows: list[Assignment], out_dir: str | os.PathLike, *, raven: bool = True, audacity: bool = True,
               folders: bool = False, cut: bool = False) -> dict[str, list[Path]]:
    """Write the chosen exports under out_dir (raven/, audacity/, clusters/); returns the paths by kind."""
    if not rows:
        raise DataError("nothing to export: no assignments")
    out_dir = Path(out_dir)
    paths: dict[str, list[Path]] = {}
    if raven:
        paths["raven"] = write_raven(rows, out_dir / "raven")
    if audacity:
        paths["audacity"] = write_audacity(rows, out_dir / "audacity")
    if folders or cut:
        paths["clusters"] = write_cluster_folders(rows, out_dir, cut=cut)
    return paths
