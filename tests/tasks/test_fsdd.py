"""A small FSDD run (real speech, from ../shared) must beat chance clearly."""
import csv
import json

import numpy as np
import pytest
from common_utils import FSDD, needs_fsdd, run_script
from sklearn.metrics import normalized_mutual_info_score

pytestmark = [pytest.mark.slow, needs_fsdd()]


def test_fsdd_subset_beats_chance(tmp_path):
    run = tmp_path / "run"
    p = run_script("train.py", "experiment=fsdd", f"data.root={FSDD}", "data.max_files=400", "logger=none",
                   "trainer.max_epochs=6", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    scores = {}
    for name, k, pattern in (("digit", 10, r"^(\d)_"), ("speaker", 6, r"^\d_([a-z]+)_")):
        p = run_script("cluster.py", f"run_dir={run}", f"kmeans.k={k}", f"data.labels.pattern='{pattern}'",
                       f"hydra.run.dir={tmp_path}/{name}", "wandb.enabled=false", "report.plots=false",
                       "report.explorer=false")
        assert p.returncode == 0, p.stderr[-3000:]
        scores[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert scores["digit"]["n_clips"] == 400 and scores["digit"]["n_labelled"] == 400
    assert scores["speaker"]["n_labelled"] == 400 and scores["speaker"]["k"] == 6
    # chance: the same clusters scored against shuffled digit labels
    with open(tmp_path / "digit" / "assignments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    labels, clusters = [r["label"] for r in rows], [int(r["cluster"]) for r in rows]
    rng = np.random.default_rng(0)
    chance = max(normalized_mutual_info_score(rng.permutation(labels), clusters) for _ in range(5))
    assert chance < 0.1 and scores["digit"]["nmi"] > chance + 0.15, (chance, scores["digit"])
    assert scores["digit"]["acc"] > 0.25, scores["digit"]  # chance ~0.13
