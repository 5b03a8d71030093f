"""Data loader settings: num_workers=auto (cores per rank), pin_memory on CUDA only, the workers' start method, and
the same model and embeddings with loader workers as without."""
import logging
import multiprocessing
import os
import subprocess
import sys
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from common_utils import ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from audioclust.data import datamodule
from audioclust.data.datamodule import AudioDataModule, auto_workers, cores_per_rank, worker_context
from audioclust.errors import ConfigError

FORK = (multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]) == "fork"


@pytest.fixture
def cores(monkeypatch):
    """Pretend this process may run on n cores (its affinity mask), outside SLURM."""
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)

    def set_cores(n: int):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    return set_cores


def test_cores_per_rank_divides_the_affinity_among_the_ranks_of_the_node(cores, monkeypatch):
    cores(16)
    assert [cores_per_rank(r) for r in (1, 2, 4, 3, 16, 32)] == [16, 8, 4, 5, 1, 1]
    cores(2)
    assert cores_per_rank(1) == 2 and cores_per_rank(2) == 1
    # SLURM: a task (rank) gets SLURM_CPUS_PER_TASK, whether its affinity is its own cores or the job's on the node
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "4")
    cores(16)
    assert cores_per_rank(4) == 4
    cores(4)
    assert cores_per_rank(4) == 4
    cores(2)
    assert cores_per_rank(1) == 2   # never more than the affinity allows


def test_auto_workers_leaves_a_core_to_the_main_process_and_none_for_a_loader_under_two_batches_or_on_cpu():
    assert [auto_workers(c, 100) for c in (1, 2, 3, 16)] == [0, 1, 2, 15]
    assert auto_workers(16, 1) == 0 and auto_workers(16, 0) == 0 and auto_workers(16, 2) == 15
    assert [auto_workers(c, 100, cuda=False) for c in (1, 2, 16)] == [0, 0, 0]   # the model's step takes the cores


def _dm(tone_folder, **kw):
    dm = AudioDataModule(root=str(tone_folder), index_cache=None, batch_size=4, val_fraction=0.25, **kw)
    dm.setup()
    return dm


def _trainer(devices: int = 1, nodes: int = 1):
    return SimpleNamespace(num_devices=devices, world_size=devices * nodes, accelerator=None)


def test_loader_settings_on_cpu_start_no_workers(tone_folder, cores, caplog):
    cores(8)
    dm = _dm(tone_folder)
    dm.trainer = _trainer()
    with caplog.at_level(logging.INFO, logger="audioclust.data.datamodule"):
        loaders = dm.train_dataloader(), dm.val_dataloader(), dm.predict_dataloader()
    assert [(d.num_workers, d.pin_memory, d.persistent_workers) for d in loaders] == [(0, False, False)] * 3
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data loader")]
    assert len(lines) == 1 and lines[0].startswith("data loader: 0 workers (auto: the model runs on CPU")


def test_loader_settings_on_cuda_follow_cores_ranks_and_batches(tone_folder, cores, caplog, monkeypatch):
    """12 clips, 9 to train (batch 4: 3 batches), 3 to validate (1 batch: no workers); the decision is logged once."""
    cores(8)
    monkeypatch.setattr(datamodule, "_on_cuda", lambda trainer: True)
    dm = _dm(tone_folder)
    with caplog.at_level(logging.INFO, logger="audioclust.data.datamodule"):
        for _ in range(2):
            train, val, predict = dm.loader_settings(9), dm.loader_settings(3, "validation"), dm.loader_settings(12)
    assert (train["num_workers"], val["num_workers"], predict["num_workers"]) == (7, 0, 7)
    assert train["persistent_workers"] and not val["persistent_workers"] and train["batch_size"] == 4
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data loader")]
    assert lines == ["data loader: 7 workers per rank (auto: 8 cores, 1 rank)",
                     "data loader (validation): 0 workers (auto: 1 batch per rank)"]
    dm.trainer = _trainer(devices=4)    # 4 ranks on this node: 2 cores each; 3 of the 12 clips per rank
    assert dm.loader_settings(9 * 4)["num_workers"] == 1 and dm.loader_settings(12)["num_workers"] == 0
    dm.trainer = _trainer(devices=2, nodes=2)   # 2 per node, 4 in all: 4 cores per rank
    assert dm.loader_settings(4 * 9)["num_workers"] == 3
    cores(1)
    assert dm.loader_settings(1000)["num_workers"] == 0
    dm.num_workers = 1    # an integer is used as it is (auto: none, for one batch on one core)
    assert dm.loader_settings(1)["num_workers"] == 1 and dm.train_dataloader().num_workers == 1


def test_pin_memory_only_when_the_trainer_runs_on_cuda(tone_folder, cores, monkeypatch):
    cores(4)
    dm = _dm(tone_folder)
    dm.trainer = _trainer()
    assert not datamodule._on_cuda(dm.trainer) and not datamodule._on_cuda(None)
    dm.num_workers = 1
    loader = dm.train_dataloader()
    assert not loader.pin_memory and loader.num_workers == 1 and loader.multiprocessing_context is None  # fork: cheap
    dm.num_workers = "auto"
    from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

    gpu_model, cpu_runtime = SimpleNamespace(cpu_input=False), SimpleNamespace(cpu_input=True)
    assert datamodule._on_cuda(SimpleNamespace(accelerator=CUDAAccelerator(), lightning_module=gpu_model))
    assert not datamodule._on_cuda(SimpleNamespace(accelerator=CPUAccelerator(), lightning_module=gpu_model))
    # an encoder that reads its waves on the CPU (BirdNET, speech) is fed as on CPU: no workers, no pinned memory
    assert not datamodule._on_cuda(SimpleNamespace(accelerator=CUDAAccelerator(), lightning_module=cpu_runtime))
    monkeypatch.setattr(datamodule, "_on_cuda", lambda trainer: trainer is not None)
    for loader in (dm.train_dataloader(), dm.predict_dataloader()):   # training and embedding alike
        assert loader.pin_memory
        if FORK:   # the workers of a CUDA process do not fork it
            assert loader.multiprocessing_context.get_start_method() == "forkserver"
    dm.pin_memory = False   # data.pin_memory=false wins
    assert not dm.train_dataloader().pin_memory


def test_worker_context_is_the_platforms_on_cpu_and_not_fork_on_cuda(monkeypatch):
    assert worker_context(cuda=False) is None
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    assert worker_context(cuda=False) == ("forkserver" if FORK else None)
    assert worker_context(cuda=True) == ("forkserver" if FORK else None)


@pytest.mark.parametrize("bad", [-1, 1.5, "many", True])
def test_num_workers_must_be_auto_or_an_integer(tone_folder, bad):
    with pytest.raises(ConfigError, match=r"^data.num_workers must be an integer >= 0 or auto, got"):
        AudioDataModule(root=str(tone_folder), num_workers=bad)
    with pytest.raises(ConfigError, match=r"^data.pin_memory must be auto, true or false"):
        AudioDataModule(root=str(tone_folder), pin_memory="yes")


def _fit_and_embed(root, workers, tmp_path):
    """Train the debug model one epoch on the folder and embed every clip, with `workers` loader workers."""
    from audioclust.embed.inference import embed
    from audioclust.tasks.builders import build_data, build_model

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["debug=default", "data=folder", f"data.root={root}", "data.index_cache=null",
                                          "data.batch_size=4", f"data.num_workers={workers}",
                                          f"paths.cache_dir={tmp_path / 'cache'}"])
    L.seed_everything(0, verbose=False)
    dm, model = build_data(cfg.data), build_model(cfg)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, deterministic=True)
    trainer.fit(model, datamodule=dm)
    used = trainer.train_dataloader.num_workers
    out = embed(model.eval(), dm, device="cpu", progress=False)
    return used, out, {k: v.clone() for k, v in model.state_dict().items()}


def test_training_and_embedding_with_loader_workers_match_no_workers(tone_folder, tmp_path):
    """A real run: one epoch of training on 12 clips (3 batches of 4 to train) and the embedding of every clip,
    with one loader worker and with none, from the same seed: the same weights, the same embeddings."""
    used0, emb0, state0 = _fit_and_embed(tone_folder, 0, tmp_path)
    used1, emb1, state1 = _fit_and_embed(tone_folder, 1, tmp_path)
    assert (used0, used1) == (0, 1)
    for k in state0:
        torch.testing.assert_close(state1[k], state0[k], rtol=0, atol=0, msg=k)
    np.testing.assert_array_equal(emb1["sample_id"], np.arange(12))
    np.testing.assert_array_equal(emb1["embedding"], emb0["embedding"])
    assert np.abs(emb0["embedding"]).sum() > 0 and not np.allclose(emb0["embedding"], emb0["embedding"][:1])


SIGNALLED = """
import os, signal, sys, time, torch
from torch.utils.data import DataLoader, Dataset
from audioclust.data.datamodule import worker_init

class Slow(Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        time.sleep(0.02)
        return torch.tensor([i, os.getpid()])

if __name__ == "__main__":
    dl = DataLoader(Slow(), batch_size=4, num_workers=1, worker_init_fn=worker_init, multiprocessing_context=sys.argv[1])
    it = iter(dl)
    worker = int(next(it)[0, 1])
    os.kill(worker, signal.SIGTERM)
    os.kill(worker, signal.SIGUSR1)
    print(sum(len(b) for b in it))
"""


@pytest.mark.parametrize("context", ["fork", "forkserver"])
def test_loader_workers_outlive_the_schedulers_signals(tmp_path, context):
    """SLURM and docker stop signal every process of the job: a worker ignores SIGTERM and SIGUSR1 (the main process
    acts on them at a step boundary), so the loader goes on instead of dying with 'worker exited unexpectedly'."""
    script = tmp_path / "signalled.py"
    script.write_text(SIGNALLED)
    p = subprocess.run([sys.executable, str(script), context], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.split() == ["36"]   # the 9 batches after the first
