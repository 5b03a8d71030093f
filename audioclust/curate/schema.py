"""curation.json: what a user decided about a fit's clusters, as an ordered list of operations (docs/curation.md).

A clip is a row of the fit's assignments.csv (its index, 0-based); a fit is named by its fit_id (a hash of its
assignments.csv, report/outputs.py), so a curation made on one fit is refused by another (a stale file changes
nothing)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from audioclust.errors import ConfigError

SCHEMA, VERSION = "audioclust-curation", 1
OPS = {   # op -> the keys it needs (besides "op")
    "rename": ("cluster", "name"),     # a cluster's name
    "merge": ("clusters",),            # the clusters become the first of them (its name kept)
    "split": ("cluster", "n"),         # the cluster re-clustered into n (k-means on its rows when applied)
    "move": ("clips", "to"),           # clips into another cluster
    "noise": (),                       # "clips" or "cluster": marked noise (-1)
    "label": ("clips", "name"),        # clips named one by one (reviewed rows: the classifier's labels)
}


class Curation(NamedTuple):
    fit: str                 # the fit_id it was made on
    operations: list[dict]   # checked, in order
    source: str              # where it was read from (for messages)


def load(path: str | Path, fit: str, n_clips: int) -> Curation:
    """A curation.json checked against the fit it is applied to (its fit_id and number of clips): any problem is
    one ConfigError naming the file and the first bad operation."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no curation file {path}") from None
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} is not a curation.json (not JSON: {e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ConfigError(f"{path} is not a curation.json (its \"schema\" is not {SCHEMA!r})")
    if doc.get("version") != VERSION:
        raise ConfigError(f"{path} has curation schema version {doc.get('version')!r}; this audioclust reads version {VERSION}")
    made = doc.get("fit")
    made_on = made.get("id") if isinstance(made, dict) else None
    if made_on != fit:
        raise ConfigError(f"{path} was made on fit {made_on}, not on this fit ({fit}): curate this fit's explorer.html again")
    if isinstance(made.get("clips"), int) and made["clips"] != n_clips:
        raise ConfigError(f"{path} was made on a fit of {made['clips']} clips, this one has {n_clips}: the file is stale")
    ops = doc.get("operations")
    if not isinstance(ops, list):
        raise ConfigError(f"{path}: \"operations\" must be a list")
    return Curation(fit, [_checked(op, i, n_clips, path) for i, op in enumerate(ops)], str(path))


def _checked(op, i: int, n_clips: int, path: Path) -> dict:
    where = f"{path}, operation {i}"
    kind = op.get("op") if isinstance(op, dict) else op
    if not isinstance(kind, str) or kind not in OPS:
        raise ConfigError(f"{where}: unknown operation {kind!r} (one of {', '.join(OPS)})")
    missing = [k for k in OPS[op["op"]] if k not in op]
    if op["op"] == "noise" and not ("clips" in op) ^ ("cluster" in op):
        missing = ["clips or cluster (one of them)"]
    if missing:
        raise ConfigError(f"{where} ({op['op']}): missing {', '.join(missing)}")
    clips = op.get("clips")
    if clips is not None:
        if not isinstance(clips, list) or not all(_is_int(c) for c in clips):
            raise ConfigError(f"{where} ({op['op']}): \"clips\" must be a list of row numbers of assignments.csv")
        bad = [c for c in clips if not 0 <= c < n_clips]
        if bad:
            raise ConfigError(f"{where} ({op['op']}): clip {bad[0]} is not in this fit ({n_clips} clips): the file is stale")
    if "name" in op and (not isinstance(op["name"], str) or not op["name"].strip()
                         or any(ord(ch) < 32 or ord(ch) == 127 for ch in op["name"])):
        raise ConfigError(f"{where} ({op['op']}): \"name\" must be a non-empty string without tabs, newlines or other "
                          "control characters (exports are tab-separated)")
    listed = op.get("clusters", [])
    if not isinstance(listed, list) or not all(_is_int(v) for v in [op[k] for k in ("cluster", "to") if k in op] + listed):
        raise ConfigError(f"{where} ({op['op']}): cluster numbers must be integers")
    if len(set(listed)) != len(listed):
        raise ConfigError(f"{where} (merge): a cluster is listed twice in \"clusters\"")
    if op["op"] == "split" and (not _is_int(op["n"]) or op["n"] < 2):
        raise ConfigError(f"{where} (split): \"n\" must be an integer of at least 2")
    if op["op"] == "merge" and (not isinstance(op["clusters"], list) or len(op["clusters"]) < 2):
        raise ConfigError(f"{where} (merge): \"clusters\" must list at least two clusters")
    return {**op, **({"name": op["name"].strip()} if "name" in op else {})}


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
