"""Read the records of an offline W&B run file (run-*.wandb: W&B's LevelDB-style log of protobufs)."""
from __future__ import annotations

import glob
import json
import struct

from wandb.proto import wandb_internal_pb2 as pb

BLOCK, HEADER = 32768, 7


def _chunks(data: bytes):
    pos, payload = 7, b""  # 7-byte file header: ':W&B', magic, version
    while pos + HEADER <= len(data):
        left = BLOCK - (pos % BLOCK)
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 2):
            payload = chunk
        elif kind in (3, 4):
            payload += chunk
        if kind in (1, 4):
            yield payload
        if kind == 0 and length == 0:
            break


def read_run(run_dir: str) -> dict:
    """{'history': {key: [values]}, 'config': {key: value}, 'files': [...], 'kinds': {type: count},
    'artifacts': [{'type', 'name', 'files': {path in artifact: local staged path}}]}."""
    (path,) = glob.glob(f"{run_dir}/run-*.wandb")
    out = {"history": {}, "config": {}, "summary": {}, "kinds": {}, "run": {}, "artifacts": []}
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B", path
    for payload in _chunks(data):
        rec = pb.Record()
        rec.ParseFromString(payload)
        kind = rec.WhichOneof("record_type")
        out["kinds"][kind] = out["kinds"].get(kind, 0) + 1
        if kind == "run":
            out["run"] = {"group": rec.run.run_group, "job_type": rec.run.job_type, "name": rec.run.display_name}
            out["config"].update({it.key: json.loads(it.value_json) for it in rec.run.config.update})   # init's config=
        elif kind == "history":
            for it in rec.history.item:
                out["history"].setdefault(it.key or "/".join(it.nested_key), []).append(json.loads(it.value_json))
        elif kind == "artifact":
            a = rec.artifact
            out["artifacts"].append({"type": a.type, "name": a.name, "metadata": json.loads(a.metadata or "{}"),
                                     "files": {c.path: c.local_path for c in a.manifest.contents}})
        elif kind == "config":
            out["config"].update({it.key: json.loads(it.value_json) for it in rec.config.update})
        elif kind == "summary":
            out["summary"].update({it.key or "/".join(it.nested_key): json.loads(it.value_json)
                                   for it in rec.summary.update})
    return out
