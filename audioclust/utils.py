"""Run set-up shared by the tasks: seeds and threads first, rank-0 helpers, clean error exits."""
from __future__ import annotations

import logging
import os
import sys

import hydra
from omegaconf import DictConfig

from audioclust.errors import AudioclustError

log = logging.getLogger("audioclust")


def setup_run(cfg: DictConfig) -> None:
    """Seeds and thread counts before anything else is built."""
    import lightning as L
    import torch

    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    L.seed_everything(int(cfg.get("seed", 0)), workers=True, verbose=False)


def instantiate_list(cfg: DictConfig | None, **kwargs) -> list:
    """Instantiate every `_target_` entry of a dict-of-configs group (callbacks, loggers)."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c, **kwargs) for c in cfg.values() if c and "_target_" in c]


def is_rank_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", os.environ.get("SLURM_PROCID", 0)))) == 0


def finish_wandb() -> None:
    """Close the active W&B run, if any (each run of a multirun must be finished)."""
    if "wandb" in sys.modules:
        import wandb

        if wandb.run is not None:
            wandb.finish()


def run_task(task, cfg: DictConfig):
    """Call a task; a user-facing error becomes one clear line and exit code 2, not a stack trace."""
    try:
        return task(cfg)
    except AudioclustError as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    finally:
        finish_wandb()
