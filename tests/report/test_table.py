"""clusters.parquet: one table per fit joining assignments.csv with each row's duration and embedding, read as a user
would, with DuckDB (no audioclust): the same rows in the same order as assignments.csv and embeddings.npy."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
from common_utils import noise, run_script, tone

from audioclust.report import outputs
from audioclust.report.outputs import Rows

duckdb = pytest.importorskip("duckdb", reason="the test extra: pip install -e '.[test]'")

COLUMNS = [("path", "VARCHAR"), ("offset", "DOUBLE"), ("duration", "DOUBLE"), ("cluster", "BIGINT"),
           ("distance", "DOUBLE"), ("label", "VARCHAR")]


def _read(path):
    """(column names and types, rows with the vector as a float32 array) through DuckDB's SQL."""
    con = duckdb.connect()
    schema = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()]
    rows = con.execute(f"SELECT * FROM read_parquet('{path}')").fetchall()
    return schema, [(*r[:-1], np.asarray(r[-1], np.float32)) for r in rows]


def _csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_table_streams_in_row_groups_and_reads_back_whole(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n, d = 2500, 8
    rows = Rows(["a.wav", "b.m4a"], rng.integers(0, 2, n), rng.random(n) * 100, rng.integers(-1, 4, n), rng.random(n),
                ["dog", None])
    x, seconds = rng.standard_normal((n, d)).astype(np.float32), rng.random(n) * 30
    monkeypatch.setattr(outputs, "TABLE_BYTES", 1024 * 4 * d)   # 1,024 rows a row group: 3 of them
    outputs.write_table(tmp_path / "clusters.parquet", rows, seconds, x)
    assert pq.ParquetFile(tmp_path / "clusters.parquet").metadata.num_row_groups == 3
    schema, got = _read(tmp_path / "clusters.parquet")
    assert schema == [*COLUMNS, ("vector", f"FLOAT[{d}]")] or schema == [*COLUMNS, ("vector", "FLOAT[]")]
    assert len(got) == n
    assert [r[0] for r in got] == [rows.path(i) for i in range(n)]
    assert [r[5] for r in got] == [{"a.wav": "dog", "b.m4a": ""}[rows.path(i)] for i in range(n)]
    np.testing.assert_array_equal([r[1] for r in got], rows.offsets)
    np.testing.assert_array_equal([r[2] for r in got], seconds)
    np.testing.assert_array_equal([r[3] for r in got], rows.clusters)
    np.testing.assert_array_equal([r[4] for r in got], rows.dists)
    np.testing.assert_array_equal(np.stack([r[6] for r in got]), x)
    assert not [p.name for p in tmp_path.iterdir() if p.name != "clusters.parquet"]   # no temp file left


@pytest.mark.slow
def test_a_fit_writes_the_table_that_duckdb_reads_as_assignments_and_embeddings(tmp_path):
    """audioclust-cluster (encoder=speaker) on labelled 1.5 s clips and a 4 s recording (a row per 1 s window): the
    table's rows are assignments.csv's, in order, with the embeddings of embeddings.npy and each row's duration."""
    pytest.importorskip("resemblyzer", reason="encoder=speaker needs its extra (docs/encoders.md)")
    root = tmp_path / "clips"
    for kind in ("tone", "noise"):
        (root / kind).mkdir(parents=True)
    for i in range(3):
        sf.write(root / "tone" / f"t{i}.wav", tone(300 + 60 * i, seconds=1.5), 16000)   # a clip: one row, 1.5 s
        sf.write(root / "noise" / f"n{i}.wav", noise(i, seconds=1.5), 16000)
    sf.write(root / "tone" / "long.wav", tone(500, seconds=4.0), 16000)
    out = tmp_path / "out"
    p = run_script("cluster.py", "encoder=speaker", f"data.root={root}", "data.labels.source=parent", "kmeans.k=2",
                   "threads=1", "data.clip_seconds=1", "data.hop_seconds=1", "data.pool_windows_up_to=2",
                   "wandb.enabled=false", "report.plots=false", "report.explorer=false", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    schema, got = _read(out / "clusters.parquet")
    x = np.load(out / "embeddings.npy")
    assert schema[:6] == COLUMNS and schema[6][0] == "vector" and schema[6][1] in (f"FLOAT[{x.shape[1]}]", "FLOAT[]")
    want = _csv(out / "assignments.csv")
    assert len(got) == len(want) == len(x) == 6 + 4
    for r, w in zip(got, want):
        assert (r[0], round(r[1], 3), r[3], round(r[4], 5), r[5]) == (
            w["path"], float(w["offset"]), int(w["cluster"]), float(w["distance"]), w["label"])
        assert r[2] == (1.0 if r[0].endswith("long.wav") else 1.5)   # a window of the recording, or a clip whole
    np.testing.assert_array_equal(np.stack([r[6] for r in got]), x)
    assert {r[5] for r in got} == {"tone", "noise"}
    con = duckdb.connect()
    per_cluster = con.execute(f"SELECT cluster, count(*) FROM '{out}/clusters.parquet' GROUP BY cluster ORDER BY 1").fetchall()
    assert per_cluster == sorted((c, sum(w["cluster"] == str(c) for w in want)) for c in {int(w["cluster"]) for w in want})
