"""The GPU paths, checked on a real GPU in a few minutes: one line per check (`make gpu-check`).

    python bench/gpu_check.py                # on a machine with a CUDA GPU, torch built for CUDA and audioclust[gpu]
    python bench/gpu_check.py --device cpu   # the same checks on CPU (the check's own test: no GPU needed)

Each check runs in its own subprocess (a CUDA or FAISS abort in one cannot take the others down; FAISS and CUDA are
never used in a forked process) under its own time limit, and prints one line: `ok <check>: ...`, `FAIL <check>: ...`
or `not run <check>: <reason>` where what it needs is not installed on the machine (the rest go on). Exit status 1
when a check failed. Nothing here downloads anything: a bare machine needs only its own CUDA torch and the
project's wheels (pytest for the `gpu`-marked tests). Outputs go to a temporary folder, removed afterwards.

Checks: the spectrogram front end on the GPU against the CPU; `trainer=gpu` (16-bit mixed precision) for one
epoch, then resumed for a second; `trainer=ddp` at world size 1 (its process-group backend: NCCL on a GPU);
cluster.py embedding on the GPU through the shard writer against the CPU's embeddings of the same model; FAISS
k-means and assignment on the GPU against CPU FAISS from the same start; the `gpu`-marked tests.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKS = ("cuda", "frontend", "train", "ddp", "embed", "faiss", "gpu-tests")
# a tiny run: 80 generated clips, 2 small layers (debug=default), no W&B; all under the check's own folder
TINY = ["debug=default", "data.synthetic.n_per_class=4", "logger=none", "progress=false"]


class NotRun(Exception):
    """What the check needs is not on this machine: `not run <check>: <reason>`."""


def sh(args: list[str], timeout: float, env: dict | None = None) -> str:
    """Run a command (in the checkout, this interpreter), return its output; a failure raises with its last lines."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in out.strip().splitlines()[-3:])
        raise RuntimeError(f"`{' '.join(map(str, args[:3]))} ...` exited {proc.returncode}: {tail[-400:]}")
    return out


def py(code: str, timeout: float, **env) -> dict:
    """Run a Python snippet in a new interpreter; it prints one JSON object as its last line."""
    out = sh(["-c", code], timeout, env)
    return json.loads(out.strip().splitlines()[-1])


def check_cuda(dev: str, work: Path) -> str:
    r = py("import json, torch\n"
           "ok = torch.cuda.is_available()\n"
           "print(json.dumps({'ok': ok, 'torch': torch.__version__, 'cuda': torch.version.cuda,\n"
           "  'name': torch.cuda.get_device_name(0) if ok else None,\n"
           "  'cc': list(torch.cuda.get_device_capability(0)) if ok else None,\n"
           "  'archs': torch.cuda.get_arch_list() if ok else []}))", 120)
    if dev == "cpu":
        return f"torch {r['torch']} on CPU (--device cpu: every check on CPU)"
    if not r["ok"]:
        raise NotRun(f"torch {r['torch']} sees no CUDA GPU (CPU build, or no driver)")
    sm = f"sm_{r['cc'][0]}{r['cc'][1]}"
    if sm not in r["archs"] and f"compute_{r['cc'][0]}{r['cc'][1]}" not in r["archs"]:
        raise RuntimeError(f"{r['name']} is {sm}, but torch {r['torch']} was built for {r['archs']}")
    return f"{r['name']} ({sm}), torch {r['torch']} CUDA {r['cuda']}"


def check_frontend(dev: str, work: Path) -> str:
    r = py("import json, torch\n"
           "from audioclust.frontend import Frontend\n"
           "torch.manual_seed(0)\n"
           "wave = torch.randn(16, 16000) * torch.linspace(0, 1, 16000)\n"
           "lengths = torch.randint(4000, 16001, (16,))\n"
           "res = {}\n"
           "for kind in ('mel', 'stft', 'cqt'):\n"
           "    fe = Frontend(kind=kind, sr=16000, clip_seconds=1.0, channels=3, block_size=[32, 32])\n"
           "    with torch.no_grad():\n"
           "        a = fe(wave, lengths)\n"
           f"        b = fe.to('{dev}')(wave.to('{dev}'), lengths.to('{dev}')).cpu()\n"
           "    res[kind] = float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))\n"
           "print(json.dumps(res))", 180)
    worst = max(r.values())
    line = ", ".join(f"{k} {v:.1e}" for k, v in r.items())
    if worst > 1e-3:
        raise RuntimeError(f"blocks on {dev} differ from CPU (max |diff| / max |x|): {line}")
    return f"blocks on {dev} vs CPU, max |diff| / max |x|: {line} (bound 1e-3)"


def _trainer(dev: str, gpu: str, cpu: list[str]) -> list[str]:
    return [f"trainer={gpu}"] if dev == "cuda" else cpu


def check_train(dev: str, work: Path) -> str:
    run = work / "train"
    args = ["train.py", *TINY, *_trainer(dev, "gpu", ["trainer=cpu", "trainer.precision=bf16-mixed"]),
            f"hydra.run.dir={run}"]
    ckpt = run / "checkpoints" / "last.ckpt"
    read = (f"import json, torch\nc = torch.load({str(ckpt)!r}, map_location='cpu', weights_only=True)\n"
            "print(json.dumps({'epoch': c['epoch'], 'step': c['global_step']}))")
    sh([*args, "trainer.max_epochs=1"], 300)
    first = py(read, 120)
    out = sh([*args, "trainer.max_epochs=2"], 300)
    r = py(read, 120)
    if "resuming from" not in out or r["epoch"] != first["epoch"] + 1 or r["step"] <= first["step"]:
        raise RuntimeError(f"second run did not resume into a second epoch (last.ckpt {first} -> {r})")
    if not (run / "model.pt").is_file():
        raise RuntimeError("no model.pt after the resumed run")
    prec = "16-mixed" if dev == "cuda" else "bf16-mixed"
    return f"trainer {'gpu' if dev == 'cuda' else 'cpu'} ({prec}): 1 epoch, resumed to epoch 2 (step {r['step']}), model.pt"


def check_ddp(dev: str, work: Path) -> str:
    run, probe = work / "ddp", work / "ddp_backend.json"
    sh(["train.py", *TINY, *_trainer(dev, "ddp", ["trainer=ddp_cpu"]), "trainer.devices=1", "trainer.max_epochs=1",
        "+callbacks.backend_probe._target_=gpu_check.backend_probe", f"+callbacks.backend_probe.path={probe}",
        f"hydra.run.dir={run}"], 300, {"PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])})
    r = json.loads(probe.read_text())
    want = "nccl" if dev == "cuda" else "gloo"
    if r["backend"] != want or r["world_size"] != 1 or not (run / "model.pt").is_file():
        raise RuntimeError(f"process group {r}, expected {want} at world size 1")
    return f"trainer=ddp, world size 1, backend {r['backend']}, 1 epoch, model.pt"


def backend_probe(path: str):
    """A Lightning callback (check_ddp adds it by `_target_`): writes the process group's backend and size."""
    import lightning as L

    class BackendProbe(L.Callback):
        def on_train_start(self, trainer, pl_module):
            import torch.distributed as dist

            from audioclust.io import write_json

            on = dist.is_initialized()
            write_json(path, {"backend": dist.get_backend() if on else None, "world_size": dist.get_world_size() if on else 1})

    return BackendProbe()


def check_embed(dev: str, work: Path) -> str:
    run = work / "train"
    if not (run / "model.pt").is_file():
        raise NotRun("needs the train check's model")
    base = ["cluster.py", f"run_dir={run}", "report.plots=false", "report.explorer=false", "progress=false",
            "kmeans.k=5", "kmeans.gpu=false"]
    for d in (dev, "cpu"):
        sh([*base, f"device={d}", f"hydra.run.dir={work / ('embed_' + d)}"], 300)
    r = py("import json, numpy as np\n"
           f"a = np.load({str(work / ('embed_' + dev) / 'embeddings.npy')!r})\n"
           f"b = np.load({str(work / 'embed_cpu' / 'embeddings.npy')!r})\n"
           f"shards = len(list(__import__('pathlib').Path({str(work / ('embed_' + dev) / 'embed')!r}).glob('*')))\n"
           "print(json.dumps({'n': len(a), 'rel': float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)),"
           " 'shards': shards}))", 120)
    if r["rel"] > 1e-3:
        raise RuntimeError(f"embeddings on {dev} differ from CPU: max |diff| / max |x| {r['rel']:.1e} (bound 1e-3)")
    return f"{r['n']} rows embedded on {dev} through the shard writer, vs CPU max |diff| / max |x| {r['rel']:.1e}"


def check_faiss(dev: str, work: Path) -> str:
    r = py("import json, numpy as np\n"
           "from audioclust.cluster.faiss_backend import load_faiss, installed_wheels\n"
           "from audioclust.cluster import kmeans\n"
           "faiss = load_faiss()\n"
           "gpus = faiss.get_num_gpus() if hasattr(faiss, 'get_num_gpus') else 0\n"
           f"if '{dev}' == 'cuda' and gpus == 0:\n"
           "    print(json.dumps({'skip': f'FAISS sees no GPU ({installed_wheels()} installed): pip install audioclust[gpu]'})); raise SystemExit\n"
           f"gpu = kmeans.use_gpu('auto') if '{dev}' == 'cuda' else False\n"
           f"if '{dev}' == 'cuda' and not gpu and gpus:\n"
           "    print(json.dumps({'fail': 'FAISS GPU build cannot run on this GPU (fallback to CPU)'})); raise SystemExit\n"
           "from sklearn.datasets import make_blobs\n"
           "x = make_blobs(20000, 64, centers=50, cluster_std=4.0, random_state=0)[0].astype(np.float32)\n"
           "opts = dict(niter=10, init='greedy', seed=0)\n"
           "cg, cc = kmeans.fit_kmeans(x, 50, gpu=gpu, **opts), kmeans.fit_kmeans(x, 50, gpu=False, **opts)\n"
           "lg, dg = kmeans.assign(x, cg, gpu=gpu)\n"
           "lc, dc = kmeans.assign(x, cc, gpu=False)\n"
           "l2, _ = kmeans.assign(x, cc, gpu=gpu)\n"
           "from sklearn.metrics import adjusted_rand_score\n"
           "print(json.dumps({'ari': adjusted_rand_score(lc, lg), 'same': float((l2 == lc).mean()),\n"
           "  'inertia': float((dg.astype(np.float64) ** 2).sum() / (dc.astype(np.float64) ** 2).sum() - 1),\n"
           "  'wheels': installed_wheels(), 'gpus': gpus}))", 300)
    if "skip" in r:
        raise NotRun(r["skip"])
    if "fail" in r:
        raise RuntimeError(r["fail"])
    if r["ari"] < 0.99 or r["same"] < 0.999 or abs(r["inertia"]) > 0.01:
        raise RuntimeError(f"{dev} k-means/assignment differ from CPU: {r}")
    return (f"{'+'.join(r['wheels'])} on {r['gpus']} GPU(s): k-means (20k x 64, k=50) ARI {r['ari']:.3f} vs CPU, "
            f"inertia {r['inertia']:+.2%}, assignment to the same centroids {r['same']:.2%} equal")


def check_gpu_tests(dev: str, work: Path) -> str:
    try:
        py("import json, pytest; print(json.dumps({}))", 60)
    except RuntimeError:
        raise NotRun("pytest is not installed (pip install 'audioclust[test]' from a checkout)") from None
    if dev == "cpu":
        raise NotRun("--device cpu: the gpu-marked tests need a GPU")
    out = sh(["-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests"], 600)
    return out.strip().splitlines()[-1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: run every check on the CPU")
    ap.add_argument("--only", nargs="*", choices=CHECKS, help="these checks only")
    args = ap.parse_args(argv)
    dev, failed, no_gpu = args.device, 0, None
    with tempfile.TemporaryDirectory(prefix="audioclust-gpu-check-") as tmp:
        env = {"AUDIOCLUST_HOME": tmp, "WANDB_MODE": "disabled"}   # outputs and generated audio in the temp folder
        os.environ.update(env)
        for name in args.only or CHECKS:
            t0 = time.perf_counter()
            try:
                if no_gpu:
                    raise NotRun(no_gpu)
                line = f"ok {name}: " + globals()["check_" + name.replace("-", "_")](dev, Path(tmp))
            except NotRun as exc:
                line = f"not run {name}: {exc}"
                no_gpu = no_gpu or (str(exc) if name == "cuda" else None)
            except subprocess.TimeoutExpired as exc:
                line, failed = f"FAIL {name}: timed out after {exc.timeout:.0f} s", failed + 1
            except Exception as exc:  # noqa: BLE001 - one line per check, whatever went wrong
                line, failed = f"FAIL {name}: {' '.join(str(exc).split())[:600]}", failed + 1
            print(f"{line} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
