"""The tool as a user installs it: a built wheel in a fresh virtual environment, run from a folder outside the
checkout with its console commands. The wheel carries the configs; outputs go under the current directory.
Log: $AUDIOCLUST_INSTALL_LOG (if set) gets every command and its output."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from common_utils import ROOT

pytestmark = pytest.mark.slow
TORCH = "torch==2.13.0"   # the local CPU wheel (an unpinned torch would pull a CUDA build)


def _run(cmd, log, cwd=None, env=None, timeout=900):
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    with open(log, "a") as f:
        f.write(f"$ {' '.join(map(str, cmd))}  (cwd {cwd or os.getcwd()})\n{p.stdout[-4000:]}{p.stderr[-4000:]}\nexit {p.returncode}\n")
    assert p.returncode == 0, f"{cmd}: {p.stdout[-2000:]}{p.stderr[-3000:]}"
    return p


def test_wheel_in_a_fresh_venv_trains_and_clusters_from_any_folder(tmp_path):
    log = Path(os.environ.get("AUDIOCLUST_INSTALL_LOG", tmp_path / "install.log"))
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)], log)
    wheel = next(dist.glob("audioclust-*.whl"))
    _run([sys.executable, "-m", "venv", str(venv)], log)
    pip, bin_ = venv / "bin" / "pip", venv / "bin"
    _run([str(pip), "install", "-q", TORCH], log)
    _run([str(pip), "install", "-q", f"{wheel}[cpu]"], log)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIOCLUST_", "PYTHONPATH"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", PYTHONUNBUFFERED="1")
    site = _run([str(bin_ / "python"), "-c", "import audioclust, os; print(os.path.dirname(audioclust.__file__))"],
                log, cwd=work, env=env).stdout.strip()
    assert not site.startswith(str(ROOT)) and Path(site, "conf", "train.yaml").is_file()   # configs in the wheel
    before = set(ROOT.glob("logs/*"))
    _run([str(bin_ / "audioclust-train"), "debug=default", "trainer.max_epochs=1", "data.synthetic.n_per_class=4"],
         log, cwd=work, env=env)
    runs = list((work / "logs" / "debug" / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "model.pt").is_file() and (runs[0] / "run_config.yaml").is_file()
    assert (work / ".cache" / "synthetic").is_dir()      # generated audio under the current folder too
    assert set(ROOT.glob("logs/*")) == before and not list(Path(site).rglob("model.pt"))
    _run([str(bin_ / "audioclust-cluster"), f"run_dir={runs[0]}", "report.plots=false", "threads=1"],
         log, cwd=work, env=env)
    fit = next(runs[0].glob("fit/*/assignments.csv"))
    lines = fit.read_text().splitlines()
    assert lines[0] == "path,offset,cluster,distance,label" and len(lines) == 1 + 80
    # a user's own config folder beside the packaged ones (hydra --config-dir)
    (work / "my_conf" / "experiment").mkdir(parents=True)
    (work / "my_conf" / "experiment" / "mine.yaml").write_text("# @package _global_\ntags: [mine]\ndata:\n  clip_seconds: 2.0\n")
    p = _run([str(bin_ / "audioclust-train"), "--config-dir", str(work / "my_conf"), "experiment=mine", "--cfg", "job"],
             log, cwd=work, env=env)
    assert "clip_seconds: 2.0" in p.stdout and "- mine" in p.stdout
    # AUDIOCLUST_HOME moves every output
    home = tmp_path / "home"
    p = _run([str(bin_ / "audioclust-train"), "debug=default", "--cfg", "job", "--resolve", "--package", "paths"], log,
             cwd=work, env={**env, "AUDIOCLUST_HOME": str(home)})
    assert f"log_dir: {home}/logs" in p.stdout and f"cache_dir: {home}/.cache" in p.stdout
