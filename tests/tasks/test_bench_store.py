"""bench/store.py's own logic: the printed line it parses, the row count it polls to kill a run at half, and the
promise it reports as failing."""
from __future__ import annotations

import sys

import numpy as np
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import store as bench  # noqa: E402

from audioclust.embed.store import Store  # noqa: E402


def test_embedded_count_reads_the_printed_line():
    log = "x\nembedding: 0 windows embedded, 3000 reused from the store (/s/mix-ab, 2.1 MiB)\ny"
    assert bench.embedded_count(log) == (0, 3000)
    assert bench.embedded_count("embedding: 12 windows embedded, 0 reused from the store (/s, 0.0 MiB)") == (12, 0)
    assert bench.embedded_count("no such line") is None
    mix = ("embedding: 0 windows embedded, 3000 reused from the store (/s/aisfx-ab, 2.1 MiB)\n"
           "embedding: 5 windows embedded, 2995 reused from the store (/s/birdnet-cd, 9.0 MiB)")
    assert bench.embedded_count(mix) == (5, 5995)   # encoder=mix: a line per member, summed


def test_store_rows_counts_finished_parts_only(tmp_path):
    keys = bench.scale_keys(250, per_file=50)
    store = Store(tmp_path, "scale", {"bench": "test"})
    store.open()
    assert bench.store_rows(tmp_path) == 0
    for a, b in ((0, 100), (100, 130)):
        store.write_part(keys, np.arange(a, b), {"embedding": np.zeros((b - a, 4), np.float32)})
    (store.dir / ".part-000-x.parquet.tmp").write_bytes(b"partial")   # a part being written is not counted
    assert bench.store_rows(tmp_path) == 130
    found = store.lookup(keys)
    assert found.present[:130].all() and not found.present[130:].any()


def test_a_failed_promise_is_said():
    run = {"wall_s": 20.0, "stages_s": {"embed": 10.0}, "windows": 100, "dim": 4, "store_bytes": 4000, "embedded": 100, "reused": 0}
    second = {**run, "wall_s": 14.0, "stages_s": {"embed": 0.5}, "embedded": 0, "reused": 100}
    text = bench.section({"reuse": {"fsdd/mix": {"first": run, "second": second, "identical": True, "date": "d"}}, "machine": "m"})
    assert "within 5 s of first minus its embed stage: **holds**" in text           # 14 <= 20 - 10 + 5
    assert "at least 10x faster end to end: **does NOT hold** (20.0 s / 14.0 s = 1.4x)" in text
