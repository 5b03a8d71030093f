"""Every config group option composes and instantiates (the Hydra compose API, as the scripts see it)."""
import pytest
from common_utils import ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

CONF = str(ROOT / "conf")


def _compose(name: str, overrides: list[str], tmp_path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(CONF, version_base="1.3"):
        cfg = compose(name, overrides=overrides, return_hydra_config=True)
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
            cfg.paths.cache_dir = str(tmp_path / "cache")
        return cfg


@pytest.mark.parametrize("overrides", [
    [], ["frontend=stft"], ["frontend=cqt"], ["model=seed"], ["experiment=seed"], ["experiment=demo"],
    ["debug=default"], ["debug=fdr"], ["logger=csv"], ["logger=none"], ["trainer=cpu"],
    ["data=fsdd"], ["experiment=fsdd"], ["experiment=fsdd_speaker"], ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0"],
    ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0", "data/segment=energy"], ["frontend.channels=3"],
    ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0", "data/segment=novelty"],
])
def test_train_config_instantiates(overrides, tmp_path, monkeypatch):
    monkeypatch.setenv("FSDD_DIR", str(tmp_path))
    cfg = _compose("train", overrides, tmp_path)
    assert cfg.model._target_.endswith("BlockAutoencoder") and cfg.trainer._target_.endswith("Trainer")
    model = instantiate(cfg.model)
    dm = instantiate(cfg.data)
    assert model.embedding_dim > 0 and dm.batch_size == cfg.data.batch_size
    assert (cfg.logger or {}).keys() <= {"wandb", "csv"}
    if "data/segment=novelty" in overrides:     # the preset is energy's settings plus the spread rule
        energy = OmegaConf.load(ROOT / "conf" / "data" / "segment" / "energy.yaml")
        assert set(cfg.data.segment) == set(energy) and dm.windowing.segment.spread_factor == 3.0   # energy's keys, inherited


@pytest.mark.parametrize("trainer", ["gpu", "ddp", "ddp_cpu"])
def test_trainer_presets_compose(trainer, tmp_path):
    cfg = _compose("train", [f"trainer={trainer}"], tmp_path)
    assert cfg.trainer.accelerator == ("cpu" if trainer == "ddp_cpu" else "gpu")
    if trainer.startswith("ddp"):
        assert cfg.trainer.strategy == "ddp"


@pytest.mark.parametrize("overrides, batch", [
    ([], 64), (["trainer=cpu"], 64), (["trainer=ddp_cpu"], 64), (["trainer=gpu"], 256), (["trainer=ddp"], 256),
    (["trainer=gpu", "experiment=fsdd"], 256), (["trainer=ddp", "trainer.devices=2", "data.batch_size=32"], 32),
    (["trainer=gpu", "debug=default"], 16),
])
def test_gpu_presets_feed_256_clips_per_device_and_a_later_setting_wins(overrides, batch, tmp_path, monkeypatch):
    """trainer=gpu / ddp set data.batch_size (their files are global); the command line, an experiment or debug
    that sets it wins; the trainer node itself stays Trainer's arguments only."""
    monkeypatch.setenv("FSDD_DIR", str(tmp_path))
    cfg = _compose("train", overrides, tmp_path)
    assert cfg.data.batch_size == batch and "data" not in cfg.trainer and "batch_size" not in cfg.trainer
    assert cfg.data.num_workers == (0 if "debug=default" in overrides else "auto") and cfg.data.pin_memory == "auto"
    if "trainer=ddp" in overrides:   # the rest of the preset and its overrides as before
        assert cfg.trainer.devices == (2 if "trainer.devices=2" in overrides else -1)
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.sync_batchnorm and cfg.trainer.max_epochs == 20
    assert instantiate(cfg.data).batch_size == batch


def test_cluster_encoder_data_loads_with_auto_workers(tmp_path):
    cfg = _compose("cluster", ["encoder=aisfx", "data.root=/x"], tmp_path)
    assert cfg.encoder_data.num_workers == "auto" and cfg.data.num_workers is None   # null: keep the base's


def test_experiment_fsdd_takes_its_folder_from_fsdd_dir_or_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv("FSDD_DIR", raising=False)
    cfg = _compose("train", ["experiment=fsdd"], tmp_path)
    assert cfg.data.root is None and cfg.data.sr == 8000   # no path of this checkout is a package default
    assert cfg.data.n_clusters == 10 and cfg.data.labels.pattern == r"^(\d)_"
    monkeypatch.setenv("FSDD_DIR", "/data/fsdd/recordings")
    assert _compose("train", ["experiment=fsdd"], tmp_path).data.root == "/data/fsdd/recordings"


def test_seed_model_has_origin_shapes(tmp_path):
    cfg = _compose("train", ["model=seed"], tmp_path)
    model = instantiate(cfg.model)
    assert model.frontend.n_blocks == 6 and model.net.code_shape == (1, 9, 9)
    assert tuple(model.frontend.block_size) == (144, 144) and model.frontend.channels == 3


def test_cluster_config_composes(tmp_path):
    cfg = _compose("cluster", ["run_dir=/x", "kmeans.k=5"], tmp_path)
    assert cfg.mode == "fit" and cfg.kmeans.k == 5 and cfg.hydra.run.dir.startswith("/x/fit/")


def test_cluster_config_kmeans_relax_reaches_fit_kmeans_and_is_checked_before_the_run(tmp_path):
    """kmeans.relax (default 1.0: plain Lloyd) goes to fit_kmeans; a value the sample iterations cannot use stops
    at plan time (builders.build_clusterer), before any data is read."""
    from audioclust.errors import ConfigError
    from audioclust.tasks.builders import build_clusterer

    assert build_clusterer(_compose("cluster", ["run_dir=/x"], tmp_path)).content.method.options["relax"] == 1.0
    large = ["run_dir=/x", "kmeans.init=greedy", "kmeans.nredo=1", "kmeans.niter=10", "kmeans.relax=1.5"]
    assert build_clusterer(_compose("cluster", large, tmp_path)).content.method.options["relax"] == 1.5
    with pytest.raises(ConfigError, match="needs kmeans.init=greedy"):
        build_clusterer(_compose("cluster", ["run_dir=/x", "kmeans.relax=1.5"], tmp_path))
    with pytest.raises(ConfigError, match=r"kmeans.relax must be a number in \[1, 2\)"):
        build_clusterer(_compose("cluster", ["run_dir=/x", "kmeans.init=greedy", "kmeans.relax=2"], tmp_path))


@pytest.mark.parametrize("preset,spread", [("novelty", 3.0), ("energy", 0.0)])
def test_cluster_command_takes_the_detector_preset_as_train_does(preset, spread, tmp_path):
    """`audioclust-cluster encoder=speech data.root=... data/segment=novelty`: the same words as train.py's; the
    preset lands in the cluster's data overrides and from there in the encoder's data module."""
    from audioclust.tasks.builders import make_datamodule

    cfg = _compose("cluster", ["encoder=speech", f"data.root={tmp_path}", "data.clip_seconds=1.0",
                               f"data/segment={preset}"], tmp_path)
    assert cfg.encoder_data.segment is None and cfg.data.segment.spread_factor == spread
    dm = make_datamodule(cfg.encoder_data, cfg.data)
    assert dm.windowing.segment.spread_factor == spread
    assert set(cfg.data.segment) == set(OmegaConf.load(ROOT / "conf" / "data" / "segment" / "energy.yaml"))
    assert make_datamodule(cfg.encoder_data, _compose("cluster", ["encoder=speech", f"data.root={tmp_path}",
                                                                  "data.clip_seconds=1.0"], tmp_path).data).windowing.segment is None
