"""SLURM for real, on the single-node cluster of tests/slurm/start_cluster.sh (`make slurm`, root only):
a 2-job sweep through hydra/launcher=slurm, a 2-task DDP job under srun, and a job that SLURM is told to
stop (the USR1 sent before a time limit) which requeues itself and resumes from its checkpoint, and an sbatch
job with a real 1-minute time limit that SLURM itself signals, which requeues and resumes until it finishes.
Without a cluster these tests skip; in CI (CI=true) a missing cluster is a failure.
Every wait is bounded; jobs a test leaves behind are cancelled by their unique job name.
AUDIOCLUST_SLURM_LOG=<file> appends the key log lines of each test to that file."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import torch
import yaml
from common_utils import ROOT, run_script

pytestmark = pytest.mark.slow
TINY = ["debug=default", "threads=1", "trainer.enable_progress_bar=false", "hydra/launcher=slurm"]
RESUMED = re.compile(r"\[audioclust\.tasks\.train\]\[INFO\] - resuming from (\S+)")   # not Lightning's warning


def cluster_problem() -> str | None:
    if not shutil.which("sinfo"):
        return "no SLURM here (sinfo not found): as root run `make slurm` (tests/slurm/start_cluster.sh)"
    try:
        p = subprocess.run(["sinfo", "-h", "-p", "short", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 20 s"
    if p.returncode != 0:
        return f"no SLURM controller answers ({p.stderr.strip()}): start it with `make slurm`"
    states = p.stdout.split()
    if not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return f"partition 'short' has no usable node (states: {states or 'none'}): `make slurm`"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI expects the SLURM test cluster (make slurm): {problem}")
        pytest.skip(problem)


@pytest.fixture
def job_name():
    """A unique SLURM job name; whatever is still queued under it is cancelled afterwards."""
    name = f"audioclust-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["scancel", "--name", name], capture_output=True, timeout=30)


def record(title: str, lines: list[str]) -> None:
    target = os.environ.get("AUDIOCLUST_SLURM_LOG")
    if target:
        with open(target, "a") as f:
            f.write(f"== {title} ({time.strftime('%Y-%m-%d %H:%M:%S')})\n" + "\n".join(lines) + "\n\n")


def key_lines(text: str, *needles: str) -> list[str]:
    return [ln.rstrip() for ln in text.splitlines() if any(n in ln for n in needles)]


def logged(run: Path, column: str, key: str) -> list[list[int]]:
    """Per attempt (CSV logger version, in order), the sorted `key` values of the rows that logged `column`."""
    out = []
    for v in sorted((run / "csv").glob("version_*"), key=lambda p: int(p.name.split("_")[1])):
        with open(v / "metrics.csv", newline="") as f:
            out.append(sorted({int(r[key]) for r in csv.DictReader(f) if r.get(column)}))
    return out


def test_sweep_runs_as_slurm_array(cluster, tmp_path, job_name):
    sweep = tmp_path / "sweep"
    p = run_script("train.py", "-m", *TINY, f"hydra.launcher.name={job_name}", f"paths.cache_dir={tmp_path}/c",
                   f"hydra.sweep.dir={sweep}", "model.net.code_channels=2,4", timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    job_ids = []
    for num, channels in enumerate((2, 4)):
        job = sweep / str(num)
        assert torch.load(job / "model.pt", weights_only=True)["state_dict"]
        assert yaml.safe_load((job / "run_config.yaml").read_text())["model"]["net"]["code_channels"] == channels
        hydra_cfg = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]
        job_ids.append(hydra_cfg["job"]["id"])  # SLURM's <array id>_<task>, given by submitit
        assert "SLURM auto-requeueing enabled" in (job / "debug.log").read_text()  # Lightning saw SLURM
    array = {j.split("_")[0] for j in job_ids}
    assert len(array) == 1 and sorted(j.split("_")[1] for j in job_ids) == ["0", "1"], job_ids
    record("sweep: python train.py -m hydra/launcher=slurm debug=default model.net.code_channels=2,4",
           key_lines(p.stdout + p.stderr, "Submitit 'slurm'", "\t#")
           + [f"job {j}: {sweep / str(i)}/model.pt" for i, j in enumerate(job_ids)])


def test_ddp_two_tasks_under_srun(cluster, tmp_path, job_name):
    run = tmp_path / "run"
    cmd = ["srun", "-N1", "--ntasks-per-node=2", "--time=10", "-J", job_name, sys.executable, "train.py",
           "debug=default", "threads=1", "trainer=ddp_cpu", "trainer.devices=2", "trainer.enable_progress_bar=false",
           f"paths.cache_dir={tmp_path}/c", f"hydra.run.dir={run}"]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONUNBUFFERED="1"))
    text = p.stdout + p.stderr
    assert p.returncode == 0, text[-3000:]
    for rank in (0, 1):
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in text
    assert text.count("SLURM auto-requeueing enabled") >= 2  # both ranks run in Lightning's SLURMEnvironment
    assert torch.load(run / "model.pt", weights_only=True)["state_dict"]
    record("DDP: srun -N1 --ntasks-per-node=2 python train.py trainer=ddp_cpu trainer.devices=2",
           [ln for ln in key_lines(text, "GLOBAL_RANK", "Starting with", "max_epochs", "model saved")
            if not ln.startswith("INFO:")])


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        assert proc.poll() is None, f"the launcher exited ({proc.returncode}) while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_signalled_ddp_job_requeues_and_resumes(cluster, tmp_path, job_name):
    """A 2-rank DDP job through the launcher (tasks_per_node = trainer.devices). USR1 is what SLURM sends
    before a time limit (--signal=USR1@90 in the preset): Lightning saves hpc_ckpt_1.ckpt and requeues;
    the re-run writes to the same run dir and continues where it stopped, not from epoch 0. The first attempt is
    held after its first epoch until the signal has reached it (tests/slurm/gate.py): it is still training then,
    however fast the machine."""
    epochs, logs = 8, tmp_path / "logs"
    out = open(tmp_path / "driver.log", "w")
    driver = subprocess.Popen([sys.executable, "train.py", "-m", *TINY, f"hydra.launcher.name={job_name}",
                               "logger=csv", f"trainer.max_epochs={epochs}", f"paths.log_dir={logs}",
                               "trainer=ddp_cpu", "trainer.devices=2", "+callbacks.hold._target_=gate.HoldUntilSignalled",
                               f"paths.cache_dir={tmp_path}/c"],   # default sweep dir: ${now:...} under logs/
                              cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT / "tests" / "slurm")))
    try:
        last = wait_for(lambda: next(logs.glob("*/multiruns/*/0/checkpoints/last.ckpt"), None), 120,
                        "the first checkpoint", driver)
        sweep = last.parents[2]
        job_id = next(sweep.glob(".submitit/*/*_submitted.pkl")).name.split("_")[0]
        subprocess.run(["scancel", "--signal=USR1", job_id], check=True, timeout=30)
        driver.wait(timeout=240)
    finally:
        if driver.poll() is None:
            driver.kill()
        out.close()
    driver_log = (tmp_path / "driver.log").read_text()
    assert driver.returncode == 0, driver_log[-3000:]
    script = next(sweep.glob(".submitit/*/*_submission.sh")).read_text()
    for flag in ("--ntasks-per-node=2", "--signal=USR1@90", "--requeue"):
        assert f"#SBATCH {flag}\n" in script
    assert [p.name for p in logs.glob("*/multiruns/*")] == [sweep.name]  # one run dir, kept under requeue
    run = sweep / "0"
    log = (run / "debug.log").read_text()
    for rank in (0, 1):
        assert log.count(f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2") == 2  # both ranks, in both attempts
    assert f"requeued job {job_id}" in log and (run / "hpc_ckpt_1.ckpt").is_file()
    # the requeue's SIGTERM also makes callbacks.sigterm_checkpoint write last.ckpt at the same step: either is fine
    resumed = re.findall(RESUMED, log)
    assert resumed and set(resumed) <= {str(run / "hpc_ckpt_1.ckpt"), str(run / "checkpoints" / "last.ckpt")}, resumed
    hpc = torch.load(run / "hpc_ckpt_1.ckpt", weights_only=True)
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    steps = logged(run, "train/loss_step", "step")  # every training step is logged (debug: log_every_n_steps=1)
    assert len(steps) == 2, steps
    saved = hpc["global_step"]
    assert 0 < saved and max(steps[0]) < saved, (saved, steps)       # the first attempt stopped where it saved
    assert steps[1] == list(range(saved, last["global_step"])), (saved, steps)  # the rest, each step once
    assert last["epoch"] in (epochs - 1, epochs)  # epochs when the step checkpoint also saves after the last epoch
    epochs_seen = logged(run, "val/loss", "epoch")
    assert torch.load(run / "model.pt", weights_only=True)["state_dict"]
    record(f"requeue: 2-rank DDP job {job_id} via hydra/launcher=slurm; scancel --signal=USR1 {job_id} "
           "(what SLURM sends before a time limit); the same job re-runs",
           key_lines(log, "GLOBAL_RANK", "SLURM signal", "Requeued SLURM job", "resuming from", "Restored all states",
                     "max_epochs", "model saved")
           + [f"hpc_ckpt_1.ckpt at epoch {hpc['epoch']} step {saved}; training steps logged per attempt: "
              f"{steps[0]} then {steps[1]} (of {last['global_step']}); validated epochs: {epochs_seen}"])


SHOW_JOB = re.compile(r"(JobState|Restarts|StartTime|EndTime|TimeLimit)=(\S+)")


def show_job(job_id: str) -> dict[str, str]:
    p = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30)
    return dict(SHOW_JOB.findall(p.stdout))


def stamp(text: str) -> float:
    """Seconds since the epoch of a local time as scontrol ('2026-11-25T11:30:00') or a log line writes it."""
    return time.mktime(time.strptime(text[:19].replace("T", " "), "%Y-%m-%d %H:%M:%S"))


def test_time_limit_requeues_and_resumes(cluster, tmp_path, job_name):
    """A real time limit, no scancel: `sbatch --time=1 --signal=USR1@10 --requeue` (1 minute is SLURM's
    smallest limit: seconds round up to whole minutes). slurmctld tests time limits every 30 s (PERIODIC_TIMEOUT,
    compiled into slurm 22.05, no slurm.conf knob) and sends the signal at the first test within 10 + 30 s of
    the end, i.e. 20-50 s after the start. The first attempt is held after its first epoch until that signal has
    reached it (tests/slurm/gate.py), however fast the machine: it saves hpc_ckpt_1.ckpt and requeues itself; the
    next resumes at that step and trains the rest (a later attempt that is signalled too requeues the same way).
    Usually 2 attempts, 1.5-2 min in all."""
    warn_s, epochs = 10, 25    # debug=default: 4 training steps per epoch
    run, out = tmp_path / "run", tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text(
        "#!/bin/bash\n"   # each attempt first prints its own limits (requeue resets StartTime/EndTime)
        "echo attempt $(scontrol show job $SLURM_JOB_ID | grep -oE '(Restarts|StartTime|EndTime|TimeLimit)=\\S+')\n"
        f"export PYTHONPATH={ROOT / 'tests' / 'slurm'}\n"   # the gate
        f"exec srun {sys.executable} train.py debug=default threads=1 trainer.enable_progress_bar=false "
        f"logger=csv trainer.max_epochs={epochs} paths.cache_dir={tmp_path}/c hydra.run.dir={run} "
        "+callbacks.hold._target_=gate.HoldUntilSignalled\n")
    sub = subprocess.run(["sbatch", "--parsable", "-J", job_name, "-N1", "-n1", "--time=1",
                          f"--signal=USR1@{warn_s}", "--requeue", "--open-mode=append", f"--output={out}",
                          f"--chdir={ROOT}", str(script)], capture_output=True, text=True, timeout=30)
    assert sub.returncode == 0, sub.stderr
    job_id = sub.stdout.strip().split(";")[0]
    deadline, state = time.monotonic() + 360, {}
    while time.monotonic() < deadline:
        state = show_job(job_id)
        if state.get("JobState") in ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY"):
            break
        time.sleep(1)
    job_out = out.read_text() if out.exists() else ""
    log = (run / "debug.log").read_text() if (run / "debug.log").exists() else ""
    assert state.get("JobState") == "COMPLETED", (state, job_out[-2000:], log[-3000:])
    attempts = [dict(SHOW_JOB.findall(ln)) for ln in job_out.splitlines() if ln.startswith("attempt ")]
    assert [int(a["Restarts"]) for a in attempts] == list(range(len(attempts))) and len(attempts) >= 2, job_out
    assert all(a["TimeLimit"] == "00:01:00" for a in attempts), attempts
    signals = re.findall(rf"^\[([^\]]+)\]\[audioclust\.launch\.slurm\]\[INFO\] - SLURM signal: saved (\S+), "
                         rf"requeued job {job_id}$", log, re.M)
    assert len(signals) == len(attempts) - 1, (signals, attempts)
    resumed = re.findall(RESUMED, log)
    assert len(resumed) == len(attempts) - 1, resumed
    steps = logged(run, "train/loss_step", "step")  # per attempt: every step is logged (log_every_n_steps=1)
    assert len(steps) == len(attempts) and steps[0][0] == 0, steps
    assert all(s == list(range(s[0], s[-1] + 1)) for s in steps), steps  # no step twice within an attempt
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    timeline = []
    for i, ((when, path), attempt) in enumerate(zip(signals, attempts)):
        end = stamp(attempt["EndTime"])
        assert end - stamp(attempt["StartTime"]) == 60
        # acted on before the limit, after the warning of it (sent within warn_s + 30 s, one time-limit test)
        before_end = end - stamp(when)
        assert 0 < before_end <= warn_s + 30 + 3, (when, attempt)
        assert path == str(run / f"hpc_ckpt_{i + 1}.ckpt")
        saved = torch.load(path, weights_only=True)["global_step"]
        # the sigterm callback also writes last.ckpt at the same step when the requeue stops the job
        assert resumed[i] in (path, str(run / "checkpoints" / "last.ckpt")), resumed
        # trained up to the save (the batch that saved is not logged: the callback stops before the loop logs it),
        # and the next attempt starts at the saved step, not at 0: no step lost, none twice
        assert 0 < saved and saved - 2 <= max(steps[i]) < saved and steps[i + 1][0] == saved, (saved, steps)
        timeline.append(f"attempt {i}: started {attempt['StartTime']}, limit at {attempt['EndTime']}; USR1 handled "
                        f"{when} ({before_end:.0f} s before the limit): hpc_ckpt_{i + 1}.ckpt at step {saved}")
    assert steps[-1][-1] + 1 == last["global_step"] == 4 * epochs, (steps[-1][-1], last["global_step"])
    assert f"`Trainer.fit` stopped: `max_epochs={epochs}` reached." in log
    assert torch.load(run / "model.pt", weights_only=True)["state_dict"]
    record(f"time limit: sbatch --time=1 --signal=USR1@{warn_s} --requeue job.sh (srun python train.py ... "
           f"trainer.max_epochs={epochs}), job {job_id}, no scancel",
           [ln.strip() for ln in job_out.splitlines() if ln.startswith("attempt ")]
           + key_lines(log, "SLURM signal", "resuming from", "Restored all states", "max_epochs", "model saved")
           + timeline + [f"training steps per attempt: {[(s[0], s[-1]) for s in steps]} of {last['global_step']}; "
                         f"final state {state}"])
