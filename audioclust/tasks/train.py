"""The train task: build everything from the config, fit (resuming), export model.pt for cluster.py."""
from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import hydra
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf, open_dict

from audioclust import checks, io
from audioclust.data.windowing import AUTO_MAX_SECONDS
from audioclust.launch.callbacks import CountResumedEpoch
from audioclust.tasks.builders import RUN_SCHEMA, build_data, build_model
from audioclust.utils import group_wandb, instantiate_list, is_rank_zero, setup_run, show_progress

log = logging.getLogger(__name__)


def resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """`ckpt_path`, else the newest of the run dir's last.ckpt and the hpc_ckpt_*.ckpt that Lightning saves
    when SLURM signals a timeout or preemption (SLURMEnvironment auto-requeue): a requeued job continues."""
    if cfg.get("ckpt_path"):
        return str(cfg.ckpt_path)
    found = [p for p in (output_dir / "checkpoints" / "last.ckpt", *output_dir.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    return str(max(found, key=lambda p: p.stat().st_mtime_ns)) if found else None


def build(cfg: DictConfig):
    """(data module, model) of a train config: every value is checked as its object is built, before any data is
    read or output written (except with data.clip_seconds=auto: the folder's headers are read, once and cached,
    to choose the length; it and the window hop (data.hop_seconds=auto) are written into cfg as numbers, so that the
    front end, run_config.yaml and every cluster.py run on the trained model (fit, assign) use them)."""
    datamodule = build_data(cfg.data)
    clip_auto = datamodule.windowing.clip_seconds == "auto"
    model = None if clip_auto else build_model(cfg)   # checked before the folder is read (hop_seconds=auto reads it)
    if clip_auto:  # what does not depend on the length is checked before the folder is read
        provisional = cfg.copy()
        with open_dict(provisional):
            provisional.data.clip_seconds = AUTO_MAX_SECONDS
        build_model(provisional)
    line = datamodule.resolve_windowing()
    if line:
        with open_dict(cfg):
            cfg.data.clip_seconds, cfg.data.hop_seconds = datamodule.windowing.clip_seconds, datamodule.windowing.hop_seconds
        if is_rank_zero():
            print(line)
    if model is None:
        model = build_model(cfg)
    if cfg.trainer.max_epochs != -1:   # -1: no limit (Lightning)
        checks.number("trainer.max_epochs", cfg.trainer.max_epochs, integer=True)
    return datamodule, model


def train(cfg: DictConfig) -> float | None:
    setup_run(cfg)
    output_dir = Path(cfg.paths.output_dir)
    datamodule, model = build(cfg)
    group_wandb(cfg)
    loggers = instantiate_list(cfg.get("logger"))
    callbacks = [c for c in instantiate_list(cfg.get("callbacks"))
                 if loggers or type(c).__name__ != "LearningRateMonitor"] + [CountResumedEpoch()]
    quiet = {} if show_progress(cfg.get("progress")) else {"enable_progress_bar": False}
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **quiet)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        lg.log_hyperparams(resolved)
    if trainer.is_global_zero:
        io.write_text(output_dir / "run_config.yaml", OmegaConf.to_yaml({**resolved, "schema": RUN_SCHEMA}))   # load_run checks it
    ckpt = resume_path(cfg, output_dir)
    if ckpt:
        log.info("resuming from %s", ckpt)
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt, weights_only=True)
    except SIGTERMException:  # callbacks.sigterm_checkpoint (on by default) has saved last.ckpt
        log.error("stopped by SIGTERM at epoch %d, step %d; run the same command to resume",
                  trainer.current_epoch, trainer.global_step)
        sys.exit(128 + signal.SIGTERM)
    if trainer.is_global_zero:
        export(model, output_dir)
        log_model_artifact(loggers, output_dir)
    metric = trainer.callback_metrics.get(cfg.get("optimized_metric"))
    return None if metric is None else float(metric)


def export(model, output_dir: Path) -> None:
    """model.pt: plain tensors only, loadable with weights_only=True."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    io.save_torch(output_dir / "model.pt", {"state_dict": state, "embedding_dim": model.embedding_dim})
    log.info("model saved to %s", output_dir / "model.pt")


def log_model_artifact(loggers, output_dir: Path) -> None:
    """With W&B: model.pt + run_config.yaml as the artifact `model-<run id>` (type model), and
    model_artifact.json next to them, so that cluster runs name it as their input (lineage)."""
    run = next((lg.experiment for lg in loggers if type(lg).__name__ == "WandbLogger"), None)
    if run is None:
        return
    import wandb

    art = wandb.Artifact(f"model-{run.id}", type="model", metadata={"sha256": io.sha256(output_dir / "model.pt")})
    for name in ("model.pt", "run_config.yaml"):
        art.add_file(str(output_dir / name), name=name)
    run.log_artifact(art, aliases=["latest"])
    io.write_json(output_dir / "model_artifact.json",
                  {"name": art.name, "project": run.project, "entity": run.entity or None,
                   "sha256": art.metadata["sha256"]})
