"""bench/gpu_check.py (make gpu-check): one line per check; without a GPU every check says why it did not run;
with --device cpu the same checks run on the CPU, so the script is exercised here before a GPU ever runs it."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ["cuda", "frontend", "train", "ddp", "embed", "faiss", "gpu-tests"]


def run(*args):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), *args], capture_output=True,
                          text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, lines, proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: make gpu-check runs the checks")
def test_without_a_gpu_every_check_says_why_not():
    rc, lines, err = run()
    assert rc == 0, err
    assert [line.split(":")[0] for line in lines] == [f"not run {c}" for c in CHECKS]
    assert all("sees no CUDA GPU" in line for line in lines)
    assert "Traceback" not in err


@pytest.mark.slow
def test_every_check_runs_on_cpu():
    rc, lines, err = run("--device", "cpu")
    heads = [line.split(":")[0] for line in lines]
    assert heads == [f"ok {c}" for c in CHECKS[:-1]] + ["not run gpu-tests"], "\n".join(lines)
    assert rc == 0
    assert "resumed to epoch 2" in lines[2] and "backend gloo" in lines[3]


def test_a_check_without_what_it_needs_says_why():
    """The embed check without the train check's model says so and does not run; a bad option is argparse's error."""
    rc, lines, _ = run("--device", "cpu", "--only", "embed")
    assert rc == 0 and lines[0].startswith("not run embed: needs the train check's model")
    rc, _, err = run("--only", "nothing")
    assert rc == 2 and "invalid choice" in err
