"""hydra/launcher=slurm_gpu without a cluster: the GPU sweep command of docs/slurm.md composes, and the sbatch
script that hydra-submitit-launcher + submitit really write for it (a stand-in `sbatch` on PATH keeps it and
refuses the job) asks for one GPU and one task per device, CPUs and memory for a GPU job, the USR1 warning and
--requeue; the site settings the doc names (partition, account) are the ones that reach the script."""
import os
import re
import shlex
import stat

import pytest
from common_utils import ROOT, run_script


def documented_command() -> list[str]:
    """The arguments of docs/slurm.md's first command (audioclust-train = train.py)."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "docs" / "slurm.md").read_text(), re.S).group(1)
    args = shlex.split(" ".join(ln for ln in block.replace("\\\n", " ").splitlines() if not ln.startswith("#")))
    assert args[:3] == ["audioclust-train", "-m", "hydra/launcher=slurm_gpu"], args
    return args[1:]


@pytest.fixture
def fake_sbatch(tmp_path, monkeypatch):
    """`sbatch` keeps the script it is given and fails; `srun` is only looked for (submitit checks it is there)."""
    kept = tmp_path / "kept"
    kept.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("sbatch", f'cp "$1" {kept}/script.sh\necho "sbatch: test stand-in, not submitted" >&2\nexit 1\n'),
                       ("srun", "exit 1\n")):
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\n" + body)
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return kept / "script.sh"


def sbatch_flags(script: str) -> dict[str, str | bool]:
    return {k: v or True for k, v in re.findall(r"^#SBATCH --([a-z-]+)(?:=(\S+))?$", script, re.M)}


@pytest.mark.parametrize("extra, expect", [
    ([], {"gpus-per-node": "4", "ntasks-per-node": "4", "nodes": "1"}),
    (["trainer.devices=2", "trainer.num_nodes=2", "hydra.launcher.partition=gpu", "hydra.launcher.account=myproject"],
     {"gpus-per-node": "2", "ntasks-per-node": "2", "nodes": "2", "partition": "gpu", "account": "myproject"}),
])
def test_gpu_sweep_writes_the_sbatch_script_a_gpu_job_needs(tmp_path, fake_sbatch, extra, expect):
    script = fake_sbatch
    args = [f"data.root={tmp_path}" if a.startswith("data.root=") else a for a in documented_command()]
    assert "model.net.code_channels=4,8" in args   # two sweep points
    p = run_script("train.py", *args, f"hydra.sweep.dir={tmp_path}/sweep", *extra, timeout=300)
    assert p.returncode != 0 and "test stand-in" in p.stdout + p.stderr, (p.stdout + p.stderr)[-3000:]
    flags = sbatch_flags(script.read_text())
    want = {"cpus-per-task": "8", "mem": "64GB", "signal": "USR1@90", "requeue": True, "time": "240",
            "array": "0-1%2", **expect}   # one array job for the two sweep points
    assert {k: flags.get(k) for k in want} == want, flags
    assert ("partition" in flags) == ("partition" in expect)   # none given: the cluster's default partition
    assert re.search(r"^srun --unbuffered .* -m submitit\.core\._submit ", script.read_text(), re.M)
