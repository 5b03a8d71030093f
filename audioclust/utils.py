"""Run set-up shared by the tasks: seeds and threads first, rank-0 helpers, clean error exits."""
from __future__ import annotations

import logging
import os
import sys
import time

import hydra
from omegaconf import DictConfig

from audioclust.errors import AudioclustError

log = logging.getLogger("audioclust")


def setup_run(cfg: DictConfig) -> None:
    """Seeds and thread counts before anything else is built."""
    import lightning as L
    import torch

    _route_lightning_logs()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
        # DDP ranks: Lightning sets each rank's torch threads to cores / ranks unless OMP_NUM_THREADS is set
        os.environ["OMP_NUM_THREADS"] = str(int(cfg.threads))
    L.seed_everything(int(cfg.get("seed", 0)), workers=True, verbose=False)


class Stages:
    """Wall time of each stage of a run: `done(name)` logs the seconds since the previous stage ended and keeps
    them in `seconds`, with the process's peak RSS so far (MiB) in `peak_mb`: the stage that raised it is where
    memory goes (cluster.py writes both to timings.json)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.peak_mb: dict[str, float] = {}
        self._start = self._last = time.perf_counter()

    def done(self, name: str) -> None:
        import resource

        now = time.perf_counter()
        self.seconds[name] = now - self._last
        self.peak_mb[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)   # KiB on Linux
        self._last = now
        log.info("stage %s: %.1f s (peak RSS so far %.0f MiB)", name, self.seconds[name], self.peak_mb[name])

    def total(self) -> float:
        return time.perf_counter() - self._start

    def record(self) -> dict:
        """What timings.json holds: seconds per stage, peak RSS after each, and the total, rounded to ms."""
        return {"stages_s": {k: round(v, 3) for k, v in self.seconds.items()},
                "peak_rss_mb_after": dict(self.peak_mb), "total_s": round(self.total(), 3)}


def show_progress(setting="auto") -> bool:
    """progress=auto: progress bars only when stderr is a terminal (logs, CI and pipes stay clean); true/false force."""
    if setting is None or setting == "auto":
        return sys.stderr.isatty()
    return bool(setting)


def _route_lightning_logs() -> None:
    """Lightning logs only to its own stderr handlers when it is imported before Hydra configures logging
    (validation imports it early): hand its records to the root logger, so they reach the task's log file."""
    if not logging.getLogger().hasHandlers():
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True


def sweep_group() -> tuple[str, int] | None:
    """(sweep name, job number) inside a Hydra multirun, else None: one W&B group per sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return None
    return f"{hc.job.name}-{os.path.basename(os.path.normpath(hc.sweep.dir))}", int(hc.job.num)


def group_wandb(cfg: DictConfig) -> None:
    """The W&B group of a training run: the configured one, else the sweep's name in a multirun (each job named
    after its number), else the run dir's name. It is saved in run_config.yaml, so cluster runs join it."""
    from omegaconf import open_dict

    sweep = sweep_group()
    with open_dict(cfg):
        if cfg.get("wandb") is not None and not cfg.wandb.get("group"):
            cfg.wandb.group = sweep[0] if sweep else os.path.basename(os.path.normpath(cfg.paths.output_dir))
        lg = (cfg.get("logger") or {}).get("wandb")
        if sweep and lg is not None:
            lg.name = lg.get("name") or f"{sweep[0]}-{sweep[1]}"


def instantiate_list(cfg: DictConfig | None, **kwargs) -> list:
    """Instantiate every `_target_` entry of a dict-of-configs group (callbacks, loggers)."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c, **kwargs) for c in cfg.values() if c and "_target_" in c]


def is_rank_zero() -> bool:
    """This process is rank 0 (the one that prints, writes and logs): Lightning's rank once imported (a strategy sets
    it, ddp_spawn's children included; at import it reads the launcher's environment), else the environment."""
    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")
    if rank_zero is not None and hasattr(rank_zero.rank_zero_only, "rank"):
        return rank_zero.rank_zero_only.rank == 0
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", os.environ.get("SLURM_PROCID", 0)))) == 0


def finish_wandb() -> None:
    """Close the active W&B run, if any (each run of a multirun must be finished)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


class _NotOnScreen(logging.Filter):
    """Keeps library warnings (Python's warnings, routed to the logger py.warnings) and third-party tips off the
    console; the task's log file still gets them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "py.warnings" or getattr(record, "file_only", False)
                    or (record.name.startswith("lightning") and "Tip:" in record.getMessage()))


def quiet_console() -> None:
    """A user's screen shows progress, decisions and results: warnings go to the logging system (so into the
    task's log file, not the console), and the console handlers Hydra set up drop them and library tips."""
    logging.captureWarnings(True)
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)   # which CPU build it loads, line by line
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            if not any(isinstance(f, _NotOnScreen) for f in h.filters):
                h.addFilter(_NotOnScreen())


def run_task(task, cfg: DictConfig):
    """Call a task (its console quiet); a user-facing error becomes one clear line and exit code 2, not a stack
    trace."""
    quiet_console()
    try:
        return task(cfg)
    except AudioclustError as exc:
        log.error("%s: %s", type(exc).__name__, exc, extra={"file_only": True})   # the screen gets the line below
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        finish_wandb()
