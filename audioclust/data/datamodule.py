"""LightningDataModule over a folder of audio (or the embedded synthetic set)."""
from __future__ import annotations

import copy
import logging
import math
import multiprocessing
import os

import lightning as L
from torch.utils.data import DataLoader

from audioclust import checks
from audioclust.data.dataset import ClipDataset
from audioclust.data.index import build_index, scan, split_files
from audioclust.data.labels import make_labeller
from audioclust.data.windowing import Windowing
from audioclust.errors import ConfigError
from audioclust.utils import is_rank_zero

log = logging.getLogger(__name__)

# num_workers=auto: no workers for a loader of fewer batches than this (nothing to overlap: the worker's start and the
# hand-over of each batch would only be added)
AUTO_MIN_BATCHES = 2


def cores_per_rank(ranks: int = 1) -> int:
    """CPU cores this process may use: its affinity mask (a cgroup / taskset / SLURM allocation), else every core,
    shared by the `ranks` processes of this node; under SLURM at most SLURM_CPUS_PER_TASK (a task is a rank,
    whether or not SLURM binds each task to its own cores). At least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:   # macOS, Windows
        cores = os.cpu_count() or 1
    per_task = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if per_task.isdigit() and int(per_task) > 0:
        return max(1, min(cores, int(per_task)))
    return max(1, cores // max(1, ranks))


def auto_workers(cores: int, batches: int, cuda: bool = True) -> int:
    """num_workers=auto: the rank's cores minus one (the main process feeds the GPU), so none on one core; none for
    a loader of fewer than AUTO_MIN_BATCHES batches; and none when the model runs on CPU: its step then takes the
    same cores and dwarfs decoding, and handing each batch over from a worker costs about what it saves
    (BENCHMARKS.md "Data loader workers": on 16-bit WAV 1 worker on 2 cores was 0.38-0.99x of none, on FLAC
    resampled from 44.1 kHz 1.01-1.24x; data.num_workers=1 for such folders on CPU)."""
    return 0 if not cuda or batches < AUTO_MIN_BATCHES else max(0, cores - 1)


def worker_init(worker_id: int) -> None:
    """Each loader worker ignores SIGTERM and SIGUSR1: SLURM (scancel, the time limit, --signal=USR1@90) and `docker
    stop` signal every process of the job, workers included; the main process acts on them at a step boundary
    (audioclust.launch.signals) and shuts its workers down, so a worker killed by the signal would only crash the
    run before its checkpoint. Lightning's seeding of workers (seed_everything(workers=True)) is kept."""
    import signal

    for sig in (signal.SIGTERM, getattr(signal, "SIGUSR1", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    if os.environ.get("PL_SEED_WORKERS") == "1":
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)


def worker_context(cuda: bool) -> str | None:
    """The start method of loader workers: the platform's (fork on Linux: cheap, tens of ms), but not fork once
    CUDA is initialised or about to be (the loader feeds a GPU): then forkserver (spawn where there is none), whose
    server imports the dataset's modules once, so that each worker starts from a clean process without importing
    torch again (once per loader: the workers are persistent). A worker only decodes audio (no CUDA, no FAISS, torch
    on one thread: no OpenMP region), so a CPU process that ran FAISS k-means before (encoder=auto) forks safely."""
    default = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]
    if default != "fork":
        return None
    import torch

    if not (cuda or torch.cuda.is_initialized()):
        return None
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return "spawn"
    multiprocessing.set_forkserver_preload(["__main__", "audioclust.data.dataset"])   # no effect once it runs
    return "forkserver"


class AudioDataModule(L.LightningDataModule):
    def __init__(self, root: str, sr: int = 16000, clip_seconds: float | str = 1.0,
                 hop_seconds: float | str | None = None,
                 labels: dict | None = None, val_fraction: float = 0.1, batch_size: int = 64,
                 num_workers: int | str = "auto", pin_memory: bool | str = "auto", seed: int = 0, strict: bool = False,
                 max_files: int | None = None,
                 synthetic: dict | None = None, n_clusters: int | None = None,
                 trim_db: float | None = None, cache_mb: float = 0, index_cache: str | None = None,
                 segment: dict | None = None, chunk_seconds: float = 60.0, pool_windows_up_to: float | None = None,
                 pool_weights: str = "power", native_seconds: float | None = None):
        super().__init__()
        if not synthetic and root in (None, ""):
            raise ConfigError("data.root is not set: pass data.root=/path/to/clips")
        checks.number("data.sr", sr, integer=True)
        self.windowing = Windowing(clip_seconds, hop_seconds, pool_windows_up_to, pool_weights, segment, native_seconds)
        if self.windowing.clip_seconds == "auto" and synthetic:
            raise ConfigError("data.clip_seconds=auto needs a folder (data=folder): the synthetic set is generated "
                              "at a length you give")
        checks.number("data.batch_size", batch_size, integer=True)
        if num_workers != "auto":
            try:
                checks.number("data.num_workers", num_workers, strict=False, integer=True)
            except ConfigError:
                raise ConfigError(f"data.num_workers must be an integer >= 0 or auto, got {checks._plain(num_workers)!r}") from None
        if pin_memory not in ("auto", True, False):
            raise ConfigError(f"data.pin_memory must be auto, true or false, got {checks._plain(pin_memory)!r}")
        checks.number("data.max_files", max_files, integer=True, optional=True)
        checks.number("data.trim_db", trim_db, optional=True)
        checks.number("data.chunk_seconds", chunk_seconds, strict=False)
        checks.number("data.n_clusters", n_clusters, integer=True, optional=True)
        if not 0 <= checks.number("data.val_fraction", val_fraction, strict=False) < 1:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {val_fraction}")
        self.root, self.sr = root, sr
        self.labels = dict(labels or {})
        self.val_fraction, self.batch_size, self.num_workers = val_fraction, batch_size, num_workers
        self.pin_memory, self._said = pin_memory, set()   # the data loader decisions printed so far
        self.seed, self.strict, self.max_files, self.synthetic = seed, strict, max_files, synthetic
        self.n_clusters, self.trim_db = n_clusters, trim_db  # the suggested k for cluster.py
        self.cache_mb, self.index_cache, self.chunk_seconds = cache_mb, index_cache, chunk_seconds
        self.index = None
        self.predict_ids = None   # None: predict every sample; else only these sample ids (encoder=auto's sample)
        self._scan = None
        self._noted = False   # the long-files note was given (with the auto clip length)

    def prepare_data(self) -> None:
        if self.synthetic:
            self._data_root()

    def _data_root(self) -> str:
        if not self.synthetic:
            return self.root
        from audioclust.data.synthetic import generate
        return str(generate(self.root, sr=self.sr, duration=self.windowing.clip_seconds, **self.synthetic))

    def _scanned(self):
        if self._scan is None:
            self._scan = scan(self._data_root(), self.max_files, self.index_cache)
        return self._scan

    def resolve_windowing(self) -> str | None:
        """The windowing's "auto" values from the folder's durations (headers only, cached; Windowing.resolved).
        Returns the line to print (None when every value was given)."""
        if self.windowing.resolved_now:
            return None
        chosen = self.windowing.resolved(self._scanned().durations())
        self.windowing = chosen.windowing
        self._noted = chosen.line is not None
        return chosen.line

    def setup(self, stage: str | None = None) -> None:
        if self.index is not None:
            return
        line = self.resolve_windowing()
        if line and is_rank_zero():
            log.info("%s", line)
        labeller = make_labeller(**self.labels)
        self.index = build_index(self._data_root(), self.windowing, labeller, self.strict, self.max_files,
                                 cache_dir=self.index_cache, sr=self.sr, scanned=self._scan)
        self._scan = None
        note = None if self._noted else self.windowing.long_files_note(self.index.durations)
        if note and is_rank_zero():
            log.info("%s", note)
        train_files, val_files = split_files(len(self.index.files), self.val_fraction, self.seed)
        in_val = set(val_files.tolist())
        fids = self.index.file_ids
        self.train_ids = [i for i, f in enumerate(fids) if f not in in_val]
        self.val_ids = [i for i, f in enumerate(fids) if f in in_val]

    def loader_settings(self, n: int, name: str = "train") -> dict:
        """DataLoader settings of a loader over n samples, one rule for every loader (train, validation, predict:
        training and every encoder's embedding). num_workers=auto: auto_workers() of this rank's cores
        (cores_per_rank over the trainer's devices on this node) on CUDA, none on CPU; pin_memory=auto: pinned
        when the trainer runs on CUDA (the copy to the GPU then overlaps compute); the workers' start method:
        worker_context(). Each new decision is printed once (rank 0)."""
        trainer = self.trainer
        ranks = int(trainer.num_devices) if trainer is not None else int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        world = int(trainer.world_size) if trainer is not None else 1   # each rank loads its share of the n
        cuda = _on_cuda(trainer)
        batch = min(self.batch_size, max(n, 1))
        workers = self.num_workers
        if workers == "auto":
            cores = cores_per_rank(ranks)
            batches = math.ceil(math.ceil(n / max(world, 1)) / batch)
            workers = auto_workers(cores, batches, cuda)
            if not cuda:
                line = ("data loader: 0 workers (auto: the model runs on CPU, where decoding is a small part of a step; "
                        "data.num_workers=N to choose)")
            elif batches < AUTO_MIN_BATCHES:
                line = f"data loader ({name}): 0 workers (auto: {batches} batch{'es' if batches != 1 else ''} per rank)"
            else:
                line = (f"data loader: {workers} worker{'s' if workers != 1 else ''} per rank (auto: {cores} "
                        f"core{'s' if cores != 1 else ''}, {ranks} rank{'s' if ranks != 1 else ''})")
            if line not in self._said and is_rank_zero():
                log.info("%s", line)
            self._said.add(line)
        pin = cuda if self.pin_memory == "auto" else bool(self.pin_memory)
        return {"batch_size": batch, "num_workers": workers, "persistent_workers": workers > 0, "pin_memory": pin,
                "multiprocessing_context": worker_context(cuda) if workers > 0 else None,
                "worker_init_fn": worker_init if workers > 0 else None}

    def _loader(self, ids, name: str, shuffle: bool = False, drop_last: bool = False) -> DataLoader:
        # embedding: each window's samples from the grid chunk that holds it, the same in any process (Chunks)
        ds = ClipDataset(self.index, ids, self.sr, self.trim_db, cache_mb=self.cache_mb,
                         chunk_seconds=self.chunk_seconds, grid=name == "embedding")
        return DataLoader(ds, shuffle=shuffle, drop_last=drop_last, **self.loader_settings(len(ds), name))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_ids, "train", shuffle=True, drop_last=len(self.train_ids) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_ids, "validation")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(range(len(self.index)) if self.predict_ids is None else self.predict_ids, "embedding")

    def at_rate(self, sr: int) -> AudioDataModule:
        """This module reading its samples at another rate (an encoder=mix member's own): the same index (its
        windows and, with a detector, the events found at this module's rate), settings and folder (a generated
        set is not generated again at that rate), its own predict_ids and loaders."""
        other = copy.copy(self)
        other.sr = checks.number("data.sr", sr, integer=True)
        other.root, other.synthetic = self._data_root(), None
        return other


def _on_cuda(trainer) -> bool:
    """Whether the trainer (None: no trainer, e.g. a data module used alone) steps its model on CUDA."""
    if trainer is None:
        return False
    from lightning.pytorch.accelerators import CUDAAccelerator

    # an encoder that reads its waves on the CPU (a CPU runtime: BirdNET, speech) is fed like a CPU model
    return isinstance(trainer.accelerator, CUDAAccelerator) and not getattr(getattr(trainer, "lightning_module", None), "cpu_input", False)


