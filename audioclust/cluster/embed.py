"""Load a trained run safely and embed every clip of a data config with Lightning's predict loop."""
from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from audioclust import io
from audioclust.cluster.shards import KEYS, ShardWriter, load_merged, merge_shards
from audioclust.errors import CheckpointError, ConfigError
from audioclust.tasks.train import build_model


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
    return hydra.utils.instantiate(cfg)


def embed(model, datamodule, device: str = "auto", progress: bool = True, devices=1, strategy: str = "auto",
          shard_dir=None) -> dict | None:
    """Embeddings of every sample, in sample-id order: {embedding (n, d), sample_id (n,), ok (n,)}.

    With shard_dir, each predict rank writes its own shard there and rank 0 merges them (every sample exactly
    once) and returns the merged arrays memory-mapped; other ranks return None. devices/strategy are
    Lightning's (e.g. devices=2 strategy=ddp: gloo on CPU, NCCL on GPUs)."""
    accelerator = "gpu" if device == "cuda" else ("cpu" if device == "cpu" else "auto")
    if shard_dir is None and (devices != 1 or strategy not in ("auto", None)):
        raise ConfigError("distributed embedding needs a shard_dir (cluster.py sets one)")
    writer = [ShardWriter(shard_dir)] if shard_dir is not None else []
    trainer = L.Trainer(accelerator=accelerator, devices=devices, strategy=strategy or "auto", logger=False,
                        enable_checkpointing=False, enable_progress_bar=progress, enable_model_summary=False,
                        callbacks=writer)
    parts = trainer.predict(model, datamodule=datamodule, return_predictions=shard_dir is None)
    if shard_dir is not None:
        if trainer.global_rank != 0:
            return None
        merge_shards(shard_dir)
        return load_merged(shard_dir)
    keys = [k for k in KEYS if k in parts[0]]
    out = {k: torch.cat([p[k] for p in parts]).numpy() for k in keys}
    order = np.argsort(out["sample_id"], kind="stable")
    return {k: v[order] for k, v in out.items()}


def spectrograms(model, datamodule, sample_ids) -> list[np.ndarray]:
    """First-channel log spectrograms (F, T) of some samples, for the montage."""
    return clips(model, datamodule, sample_ids)[1]


def clips(model, datamodule, sample_ids) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(decoded waves, first-channel log spectrograms (F, T)) of some samples, as the model sees them."""
    ds = datamodule.predict_dataloader().dataset
    items = [ds[int(i)] for i in sample_ids]
    if not items:
        return [], []
    waves = torch.stack([it["wave"] for it in items]).to(model.device)
    lengths = torch.tensor([it["length"] for it in items])
    with torch.no_grad():
        spec = model.frontend.spectrogram(waves, lengths)
    return ([w[:int(n)].cpu().numpy() for w, n in zip(waves, lengths)], [s[0].cpu().numpy() for s in spec])
