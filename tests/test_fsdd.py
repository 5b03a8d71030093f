"""A small FSDD run (real speech, from ../shared) must beat chance clearly."""
import json

import pytest

from conftest import FSDD, needs_fsdd, run_script

pytestmark = [pytest.mark.slow, needs_fsdd()]


def test_fsdd_subset_beats_chance(tmp_path):
    run = tmp_path / "run"
    p = run_script("train.py", "experiment=fsdd", f"data.root={FSDD}", "data.max_files=400", "logger=none",
                   "trainer.max_epochs=6", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    scores = {}
    for name, k, pattern in (("digit", 10, r"^(\d)_"), ("speaker", 6, r"^\d_([a-z]+)_")):
        p = run_script("cluster.py", f"run_dir={run}", f"kmeans.k={k}", f"data.labels.pattern='{pattern}'",
                       f"hydra.run.dir={tmp_path}/{name}", "wandb.enabled=false", "report.plots=false")
        assert p.returncode == 0, p.stderr[-3000:]
        scores[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert scores["digit"]["n_clips"] == 400 and scores["digit"]["n_labelled"] == 400
    # chance on 400 clips: NMI ~0.03 for 10 clusters and ~0.01 for 6, ACC ~0.13 and ~0.2
    assert scores["speaker"]["nmi"] > 0.25 and scores["speaker"]["acc"] > 0.35, scores["speaker"]
    assert scores["digit"]["nmi"] > 0.08, scores["digit"]
