"""Optional labels, used only to score clusters: from a file-name regex, the parent folder, or a CSV."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from audioclust.errors import ConfigError, DataError


def make_labeller(source: str | None = None, pattern: str | None = None, manifest: str | None = None,
                  column: str = "label"):
    """Return `f(path) -> label or None` for the configured label source."""
    if source in (None, "none"):
        return lambda path: None
    if source == "parent":
        return lambda path: Path(path).parent.name
    if source == "regex":
        if not pattern:
            raise ConfigError("data.labels.source=regex needs data.labels.pattern (a regex with one group)")
        rx = re.compile(pattern)
        return lambda path: _regex_label(rx, Path(path).name)
    if source == "manifest":
        table = read_manifest(manifest, column)
        return lambda path: table.get(str(Path(path).resolve()))
    raise ConfigError(f"unknown data.labels.source {source!r}: use none, parent, regex or manifest")


def _regex_label(rx: re.Pattern, name: str):
    m = rx.search(name)
    if m is None:
        return None
    return m.group(1) if m.groups() else m.group(0)


def read_manifest(manifest: str | None, column: str) -> dict[str, str]:
    """CSV with a `path` column (relative to the CSV's folder or absolute) and a label column."""
    table = manifest_columns(manifest)
    if table and column not in table:
        raise DataError(f"label manifest {manifest} needs columns 'path' and {column!r}")
    return table.get(column, {})


def manifest_columns(manifest: str | None) -> dict[str, dict[str, str]]:
    """Every column of a manifest CSV but `path`, each as {resolved path: value} (recording, site, date, ...)."""
    if not manifest or not Path(manifest).is_file():
        raise DataError(f"label manifest not found: {manifest}")
    base = Path(manifest).parent
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and "path" not in rows[0]:
        raise DataError(f"label manifest {manifest} needs a column 'path'")
    paths = [str((base / r["path"]).resolve()) for r in rows]
    return {c: dict(zip(paths, (r[c] for r in rows))) for c in (rows[0] if rows else {}) if c != "path"}
