"""audioclust-curate run as a user runs it: a curation.json applied to a fit (audioclust.write_outputs writes what
audioclust-cluster's fit writes), its names in every output, the state mode=assign reads following the curated
clusters, the probe's predictions and review list; a stale file is one line and writes nothing."""
import hashlib
import json

import numpy as np
import pytest
from common_utils import blob_clips, csv_rows, run_script

import audioclust

KINDS = ("owl", "wind", "rain")
CLI = ("-c", "from audioclust.cli import curate; curate()")


@pytest.fixture(scope="module")
def fit(tmp_path_factory):
    """30 one-second files, 10 of each kind, their embeddings three blobs; clustered (UMAP + k-means, k=3)."""
    root = tmp_path_factory.mktemp("curate")
    emb = blob_clips(root, KINDS, np.random.default_rng(0))
    clusters = audioclust.cluster(emb, k=3, gpu=False)
    out = audioclust.write_outputs(clusters, emb, root / "fit")
    return out, emb, clusters


def _curation(fit_dir, operations):
    doc = {"schema": "audioclust-curation", "version": 1, "operations": operations,
           "fit": {"id": hashlib.sha256((fit_dir / "assignments.csv").read_bytes()).hexdigest()[:16], "clips": 30}}
    path = fit_dir.parent / "curation.json"
    path.write_text(json.dumps(doc))
    return path


def test_names_flow_into_every_output_and_into_assign(fit, tmp_path):
    fit_dir, emb, clusters = fit
    c = clusters.labels_
    of = {kind: int(np.bincount(c[[lab == kind for lab in emb.label]]).argmax()) for kind in KINDS}
    ops = [{"op": "rename", "cluster": of["owl"], "name": "owl"}, {"op": "rename", "cluster": of["wind"], "name": "wind"},
           {"op": "noise", "cluster": of["rain"]}, {"op": "label", "clips": [0, 1], "name": "barn owl"}]
    out = tmp_path / "curated"
    p = run_script(*CLI, f"fit_dir={fit_dir}", f"curation={_curation(fit_dir, ops)}", "export.raven=true",
                   "export.folders=true", "review=5", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "applied 4 change(s)" in p.stdout and f"cluster {of['rain']} marked noise (10 clips)" in p.stdout
    rows = csv_rows(out / "assignments.csv")
    assert list(rows[0]) == ["path", "offset", "cluster", "distance", "label", "name"]
    want = {"owl": "owl", "wind": "wind", "rain": ""}
    for i, r in enumerate(rows):
        assert r["name"] == ("barn owl" if i < 2 else want[r["label"]])
        assert (r["cluster"] == "-1") == (r["label"] == "rain")
    import duckdb

    named = duckdb.sql(f"select name, count(*) from '{out / 'clusters.parquet'}' group by name order by name").fetchall()
    assert named == [("", 10), ("barn owl", 2), ("owl", 8), ("wind", 10)]
    assert sorted(d.name for d in (out / "exports" / "clusters").iterdir() if d.is_dir()) == ["barn owl", "noise", "owl", "wind"]
    raven = (out / "exports" / "raven" / "all.Table.1.selections.txt").read_text()
    assert "\towl\t" in raven and "\tbarn owl\t" in raven
    assert json.loads((out / "names.json").read_text())["names"] == {str(of["owl"]): "owl", str(of["wind"]): "wind"}
    # mode=assign reads this state: every row comes back to its curated cluster, rain rows are noise
    state = dict(np.load(out / "preprocess.npz", allow_pickle=False))
    again = audioclust.Clusters.from_state(state, gpu=False).assign(emb.vectors)[0]
    assert again.tolist() == [int(r["cluster"]) for r in rows]
    # the probe: a probability per name for every row; review_next lists unnamed rows, least sure first
    pred = csv_rows(out / "predictions.csv")
    assert len(pred) == 30 and {k for k in pred[0] if k.startswith("p_")} == {"p_barn owl", "p_owl", "p_wind"}
    review = csv_rows(out / "review_next.csv")
    assert len(review) == 5 and all(r["name"] == "" for r in review)
    margins = [float(r["margin"]) for r in review]
    assert margins == sorted(margins)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["curated_from"] == json.loads((fit_dir.parent / "curation.json").read_text())["fit"]["id"]
    assert metrics["n_noise"] == 10 and metrics["fit_id"] != metrics["curated_from"]


def test_a_stale_curation_is_one_line_and_writes_nothing(fit, tmp_path):
    fit_dir = fit[0]
    path = _curation(fit_dir, [{"op": "noise", "clips": [3]}])
    doc = json.loads(path.read_text())
    doc["fit"]["id"] = "0123456789abcdef"
    path.write_text(json.dumps(doc))
    p = run_script(*CLI, f"fit_dir={fit_dir}", f"curation={path}", f"hydra.run.dir={tmp_path / 'out'}")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "was made on fit 0123456789abcdef, not on this fit" in p.stderr
    assert not (tmp_path / "out" / "assignments.csv").exists()


def test_a_curated_fit_curated_again_keeps_its_names(fit, tmp_path):
    fit_dir = fit[0]
    first = tmp_path / "first"
    p = run_script(*CLI, f"fit_dir={fit_dir}", f"curation={_curation(fit_dir, [{'op': 'rename', 'cluster': 0, 'name': 'owl'}, {'op': 'label', 'clips': [5], 'name': 'odd'}])}",
                   f"hydra.run.dir={first}")
    assert p.returncode == 0, p.stderr[-3000:]
    second = tmp_path / "second"
    p = run_script(*CLI, f"fit_dir={first}", f"curation={_curation(first, [{'op': 'rename', 'cluster': 1, 'name': 'wind'}])}",
                   f"hydra.run.dir={second}")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = csv_rows(second / "assignments.csv")
    assert {r["name"] for r in rows if r["cluster"] == "0" and r is not rows[5]} == {"owl"} and rows[5]["name"] == "odd"
    assert {r["name"] for r in rows if r["cluster"] == "1"} - {"odd"} == {"wind"}
    import pyarrow.parquet as pq

    table = pq.read_table(second / "clusters.parquet")   # one name column, as in the first curated fit
    assert table.column_names.count("name") == 1 and table.column("name").to_pylist() == [r["name"] for r in rows]
