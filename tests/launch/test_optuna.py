"""hparams_search=optuna: trials run through train.py, land in a persistent sqlite study, and a restarted
driver continues the same study instead of starting a new one."""
import pytest
import yaml
from common_utils import run_script

pytestmark = pytest.mark.slow
optuna = pytest.importorskip("optuna", reason="hydra-optuna-sweeper not installed (pip install -e '.[optuna]')")


def sweep(tmp_path, name, trials):
    p = run_script("train.py", "-m", "hparams_search=optuna", "debug=default", "threads=1",
                   "trainer.enable_progress_bar=false", f"paths.log_dir={tmp_path}/logs",
                   f"paths.cache_dir={tmp_path}/c", f"hydra.sweeper.n_trials={trials}",
                   f"hydra.sweep.dir={tmp_path}/{name}", timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    return tmp_path / name


def test_optuna_study_persists_across_driver_restarts(tmp_path):
    first = sweep(tmp_path, "first", 2)
    db = tmp_path / "logs" / "optuna" / "debug_blockae.db"
    study = optuna.load_study(study_name="debug_blockae", storage=f"sqlite:///{db}")
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:  # each trial's params reached its job, and its value is that job's val/loss
        overrides = yaml.safe_load((first / str(t.number) / ".hydra" / "overrides.yaml").read_text())
        assert f"model.optimizer.lr={t.params['model.optimizer.lr']}" in overrides
        assert t.params["model.net.code_channels"] in (4, 8, 16) and 0 < t.value < 10
    best = yaml.safe_load((first / "optimization_results.yaml").read_text())
    assert best["best_value"] == min(t.value for t in trials)

    sweep(tmp_path, "second", 1)  # a new driver, same study: one more trial, the first two kept
    trials = optuna.load_study(study_name="debug_blockae", storage=f"sqlite:///{db}").get_trials()
    assert [t.number for t in trials] == [0, 1, 2] and all(t.state.name == "COMPLETE" for t in trials)
