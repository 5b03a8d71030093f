"""The one place that turns configs into objects: data module, front end + model, a trained run's model."""
from __future__ import annotations

from pathlib import Path

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf

from audioclust import io
from audioclust.errors import AudioclustError, CheckpointError


def instantiate(node: DictConfig, **kwargs):
    """hydra.utils.instantiate, with a constructor's own ConfigError (one line, exit 2) passed on as it is rather
    than wrapped in Hydra's InstantiationException (at every level of nesting)."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except InstantiationException as exc:
        cause = exc
        while isinstance(cause, InstantiationException) and cause.__cause__ is not None:
            cause = cause.__cause__
        if isinstance(cause, AudioclustError):
            raise cause from None
        raise


def build_data(data_cfg: DictConfig):
    """The LightningDataModule of a `data` node (its constructor checks every value; nothing is read yet)."""
    return instantiate(data_cfg)


def build_model(cfg: DictConfig):
    """The LightningModule of a run config: its `model` node builds the front end and network nodes it holds."""
    return instantiate(cfg.model)


def load_run(run_dir) -> tuple[DictConfig, object]:
    """The run's resolved config and its model with weights from model.pt (weights_only)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "run_config.yaml"
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir} is not a finished train run: no run_config.yaml "
                              "(pass run_dir=<the output dir of train.py>)")
    cfg = OmegaConf.load(cfg_path)
    model = build_model(cfg)
    ckpt = io.load_torch(run_dir / "model.pt")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{run_dir / 'model.pt'} holds no state_dict")
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        first = "; ".join(str(exc).splitlines()[1:3]).strip()
        raise CheckpointError(f"checkpoint {run_dir / 'model.pt'} does not match the run's config: {first}") from None
    return cfg, model.eval()


def _set_values(tree):
    """The overrides that are set: null leaves mean 'keep the run's value'."""
    if isinstance(tree, dict):
        kept = {k: _set_values(v) for k, v in tree.items()}
        return {k: v for k, v in kept.items() if v is not None and v != {}}
    return tree


def make_datamodule(data_cfg: DictConfig, overrides=None, input_dir: str | None = None):
    plain = OmegaConf.to_container(overrides, resolve=True) if overrides is not None else {}
    cfg = OmegaConf.merge(data_cfg, _set_values(plain))
    if input_dir:
        cfg.root, cfg.synthetic = str(input_dir), None
    return build_data(cfg)


