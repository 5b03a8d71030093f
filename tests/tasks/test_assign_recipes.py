"""mode=assign after the README's recipes, run as a user runs them: clusters fitted after reduce.method=umap (k-means
or HDBSCAN) take new audio by the nearest fitted rows kept in preprocess.npz (no UMAP model, no pickles): the fit's
own files assigned again keep their cluster, a new file of a known kind lands with its kind."""
from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common_utils import chirp, noise, run_script, tone

pytestmark = pytest.mark.slow
SR, PER_CLASS = 16000, 7
QUIET = ["threads=1", "report.explorer=false", "report.plots=false", "wandb.enabled=false"]
MAKERS = {"tone": lambda i: tone(300 + 40 * i), "chirp": lambda i: chirp(200 + 50 * i, 4000), "noise": noise}


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _clip(kind: str, i: float) -> np.ndarray:
    return np.r_[MAKERS[kind](i), np.zeros(int(1.5 * SR), np.float32)].astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """3 kinds of one-shot, 7 of each, and the README's no-pretrained-weights training on them (small, short)."""
    root = tmp_path_factory.mktemp("assign")
    for kind in MAKERS:
        (root / "clips" / kind).mkdir(parents=True)
        for i in range(PER_CLASS):
            sf.write(root / "clips" / kind / f"{kind}_{i}.wav", _clip(kind, i), SR)
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={root / 'clips'}", "data.hop_seconds=null",
                   "data.max_files=null", "data.labels.source=parent", "trainer.max_epochs=1", "threads=1",
                   f"hydra.run.dir={root / 'run'}")
    assert p.returncode == 0, p.stderr[-3000:]
    return root / "clips", root / "run"


@pytest.mark.parametrize("recipe", [["reduce.method=umap", "kmeans.k=3"],
                                    ["reduce.method=umap", "cluster.method=hdbscan", "hdbscan.min_cluster_size=4"]])
def test_assign_after_umap_own_files_keep_their_cluster_new_file_lands_with_its_kind(trained, tmp_path, recipe):
    clips, run = trained
    fit = tmp_path / "fit"
    p = run_script("cluster.py", f"run_dir={run}", *recipe, *QUIET, f"hydra.run.dir={fit}")
    assert p.returncode == 0, p.stderr[-3000:]
    state = np.load(fit / "preprocess.npz", allow_pickle=False)   # the fitted rows, plain arrays
    assert state["neighbour_rows"].shape[0] == 3 * PER_CLASS and state["neighbour_z"].shape == (3 * PER_CLASS, 10)
    fitted = {Path(r["path"]).name: int(r["cluster"]) for r in _rows(fit / "assignments.csv")}
    new = tmp_path / "new"
    shutil.copytree(clips, new)   # the fit's own files, elsewhere ...
    for kind in MAKERS:           # ... and one new file of each kind, unlike any fitted one
        sf.write(new / kind / f"{kind}_new.wav", _clip(kind, 3.5 if kind != "noise" else 99), SR)
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"input={new}", f"clusters_dir={fit}", *QUIET,
                   f"hydra.run.dir={tmp_path / 'assign'}")
    assert p.returncode == 0, p.stderr[-3000:]
    assigned = {Path(r["path"]).name: (int(r["cluster"]), float(r["distance"])) for r in _rows(tmp_path / "assign" / "assignments.csv")}
    assert len(assigned) == 3 * PER_CLASS + 3
    again = [assigned[name][0] == cluster for name, cluster in fitted.items()]
    assert np.mean(again) >= 0.98, f"{sum(again)} of {len(again)} fitted files kept their cluster"
    for kind in MAKERS:
        kind_cluster = Counter(c for name, c in fitted.items() if name.startswith(kind + "_")).most_common(1)[0][0]
        assert assigned[f"{kind}_new.wav"][0] == kind_cluster, (kind, assigned[f"{kind}_new.wav"], fitted)
    assert all(d >= 0 for _, d in assigned.values())


def test_a_curated_fit_names_new_audio_and_its_noise_stays_noise(trained, tmp_path):
    """Issue 25: audioclust-curate's output is what mode=assign reads: new audio gets its cluster's name, and audio
    like the clips marked noise is noise (-1); assignments.csv and the Audacity labels carry the names."""
    import hashlib
    import json

    clips, run = trained
    fit = tmp_path / "fit"
    p = run_script("cluster.py", f"run_dir={run}", "reduce.method=umap", "kmeans.k=3", *QUIET, f"hydra.run.dir={fit}")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(fit / "assignments.csv")
    of = {kind: Counter(int(r["cluster"]) for r in rows if Path(r["path"]).name.startswith(kind + "_")).most_common(1)[0][0]
          for kind in MAKERS}
    assert len(set(of.values())) == 3, of
    ops = [{"op": "rename", "cluster": of["tone"], "name": "whistle"}, {"op": "rename", "cluster": of["chirp"], "name": "sweep"},
           {"op": "noise", "cluster": of["noise"]}]
    doc = {"schema": "audioclust-curation", "version": 1, "operations": ops,
           "fit": {"id": hashlib.sha256((fit / "assignments.csv").read_bytes()).hexdigest()[:16], "clips": len(rows)}}
    (tmp_path / "curation.json").write_text(json.dumps(doc))
    curated = tmp_path / "curated"
    p = run_script("-c", "from audioclust.cli import curate; curate()", f"fit_dir={fit}", f"curation={tmp_path / 'curation.json'}",
                   f"hydra.run.dir={curated}")
    assert p.returncode == 0, p.stderr[-3000:]
    new = tmp_path / "new"
    for kind in MAKERS:
        (new / kind).mkdir(parents=True)
        sf.write(new / kind / f"{kind}_new.wav", _clip(kind, 3.5 if kind != "noise" else 99), SR)
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"input={new}", f"clusters_dir={curated}", "export.audacity=true",
                   *QUIET, f"hydra.run.dir={tmp_path / 'assign'}")
    assert p.returncode == 0, p.stderr[-3000:]
    got = {Path(r["path"]).name: (int(r["cluster"]), r["name"]) for r in _rows(tmp_path / "assign" / "assignments.csv")}
    assert got == {"tone_new.wav": (of["tone"], "whistle"), "chirp_new.wav": (of["chirp"], "sweep"), "noise_new.wav": (-1, "")}
    assert (tmp_path / "assign" / "exports" / "audacity" / "tone_new.labels.txt").read_text().endswith("\twhistle\n")
    # a later fit of the same folder (another seed) inherits the names by the majority of each cluster's clips
    p = run_script("cluster.py", f"run_dir={run}", "reduce.method=umap", "kmeans.k=3", "seed=1", f"names_from={curated}", *QUIET,
                   f"hydra.run.dir={tmp_path / 'refit'}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"names from {curated}: 2 of 3 clusters named" in p.stdout and "<- 'whistle' (7 of its 7 named clips)" in p.stdout
    refit = _rows(tmp_path / "refit" / "assignments.csv")
    assert {r["name"] for r in refit if Path(r["path"]).name.startswith("tone_")} == {"whistle"}
    assert json.loads((tmp_path / "refit" / "names.json").read_text())["names"]
