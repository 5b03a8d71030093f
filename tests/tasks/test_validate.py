"""Config values are checked before any work: one clear ConfigError per bad value (exit 2 in the scripts)."""
import pytest
from common_utils import ROOT, run_script
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from audioclust.errors import ConfigError
from audioclust.tasks.builders import make_datamodule
from audioclust.tasks.cluster import plan
from audioclust.tasks.train import build


def _compose(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides=overrides)


GOOD = [[], ["frontend=stft"], ["frontend=cqt"], ["model=seed"], ["experiment=seed"], ["experiment=demo"],
        ["experiment=fsdd"], ["experiment=fsdd_speaker"], ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0"],
        ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0", "data/segment=energy"], ["debug=default"],
        ["frontend.channels=3"], ["model=idec"], ["trainer.max_epochs=-1"], ["data.hop_seconds=0.5"]]


@pytest.mark.parametrize("overrides", GOOD, ids=lambda o: " ".join(o) or "defaults")
def test_shipped_configs_build(overrides, monkeypatch):
    monkeypatch.setenv("FSDD_DIR", "/data/fsdd")   # a folder path is all a config needs before any data is read
    dm, model = build(_compose("train", overrides))
    assert model.embedding_dim > 0 and model.frontend.spec_shape == instantiate(_compose("train", overrides).frontend).spec_shape


BAD_TRAIN = [
    ("data.sr=-16000", "data.sr must be an integer > 0, got -16000"),
    ("data.sr=16k", "data.sr must be an integer > 0, got '16k'"),
    ("data.clip_seconds=0", "data.clip_seconds must be a number > 0 or auto, got 0"),
    ("data.clip_seconds=abc", "data.clip_seconds must be a number > 0 or auto, got 'abc'"),
    ("data.segment={threshold_db:-1}", "segment.threshold_db must be > 0 dB"),
    ("data.hop_seconds=-1", "data.hop_seconds must be null, a number > 0 or auto, got -1"),
    ("data.pool_weights=loud", "unknown data.pool_weights='loud': use one of power, equal"),
    ("data.batch_size=0", "data.batch_size must be an integer > 0, got 0"),
    ("data.batch_size=2.5", "data.batch_size must be an integer > 0, got 2.5"),
    ("data.max_files=-3", "data.max_files must be an integer > 0 or null, got -3"),
    ("data.num_workers=-1", "data.num_workers must be an integer >= 0 or auto, got -1"),
    ("data.pin_memory=yes", "data.pin_memory must be auto, true or false, got 'yes'"),
    ("data.val_fraction=1.0", "data.val_fraction must be in [0, 1), got 1.0"),
    ("frontend.kind=mfcc", "unknown frontend.kind='mfcc': use one of mel, stft, cqt"),
    ("frontend.norm=global", "unknown frontend.norm='global'"),
    ("frontend.channels=2", "unknown frontend.channels=2: use one of 1, 3"),
    ("frontend.n_mels=0", "frontend.n_mels must be an integer > 0, got 0"),
    ("frontend.n_fft=-1024", "frontend.n_fft must be an integer > 0, got -1024"),
    ("frontend.frames_per_second=0", "frontend.frames_per_second must be a number > 0, got 0"),
    ("frontend.block_size=[512,32]", "frontend.block_size [512, 32] (freq, time) is larger than the spectrogram [64, 65]"),
    ("frontend.block_size=[64,128]", "is larger than the spectrogram [64, 65] of a 1.0 s clip"),
    ("frontend.block_size=[-64,32]", "frontend.block_size must be two integers >= 1 (freq, time), got [-64, 32]"),
    ("frontend.block_size=[64]", "frontend.block_size must be two integers >= 1"),
    ("frontend.block_hop=[0,16]", "frontend.block_hop must be two integers >= 1"),
    ("frontend.lifter=64", "frontend.lifter=64 must be below the number of frequency bins (64)"),
    ("frontend.lifter=-2", "frontend.lifter must be an integer >= 0, got -2"),
    ("frontend.block_size=[60,32]", "frontend.block_size [60, 32] must be divisible by 2^len(model.net.widths) = 8"),
    ("model.net.widths=[]", "model.net.widths must be a list of integers >= 1, got []"),
    ("model.net.code_channels=0", "model.net.code_channels must be an integer > 0, got 0"),
    ("model.pooling=avg", "unknown model.pooling='avg'"),
    ("model.optimizer.lr=-0.1", "model.optimizer.lr must be a number > 0, got -0.1"),
    ("trainer.max_epochs=0", "trainer.max_epochs must be an integer > 0, got 0"),
]


@pytest.mark.parametrize("override,message", BAD_TRAIN, ids=[b[0] for b in BAD_TRAIN])
def test_bad_train_values_get_one_clear_message(override, message):
    with pytest.raises(ConfigError) as err:
        build(_compose("train", [override]))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_folder_data_needs_a_root():
    with pytest.raises(ConfigError, match=r"^data.root is not set: pass data.root=/path/to/clips$"):
        build(_compose("train", ["data=folder"]))


BAD_CLUSTER = [
    ("kmeans.k=0", "kmeans.k must be an integer > 0 or null, got 0"),
    ("kmeans.k=-4", "kmeans.k must be an integer > 0 or null, got -4"),
    ("kmeans.search=[5,2]", "kmeans.search must be [min, max] with 2 <= min <= max, got [5, 2]"),
    ("kmeans.niter=0", "kmeans.niter must be an integer > 0"),
    ("mode=predict", "unknown mode='predict': use one of fit, assign"),
    ("preprocess=zscore", "unknown preprocess='zscore'"),
    ("reduce.method=tsne", "unknown reduce.method='tsne'"),
    ("reduce.dim=0", "reduce.dim must be an integer > 0"),
    ("device=tpu", "unknown device='tpu'"),
    ("voice.groups=-1", "voice.groups must be an integer >= 0, got -1"),
    ("voice.rounds=-1", "voice.rounds must be an integer >= 0, got -1"),
    ("voice.target=speaker", "unknown voice.target='speaker': use one of content, voice"),
    ("voice.target=voice", "voice.target=voice clusters the voice groups: set voice.groups > 0"),
]


@pytest.mark.parametrize("override,message", BAD_CLUSTER, ids=[b[0] for b in BAD_CLUSTER])
def test_bad_cluster_values_get_one_clear_message(override, message):
    with pytest.raises(ConfigError) as err:
        plan(_compose("cluster", ["run_dir=/x", override]))
    assert message in str(err.value) and "\n" not in str(err.value)
    plan(_compose("cluster", ["run_dir=/x"]))  # the defaults pass


def test_cluster_needs_a_run_dir_and_checks_data_overrides():
    with pytest.raises(ConfigError, match=r"^run_dir is not set: pass run_dir=...$"):
        plan(_compose("cluster", []))
    data = _compose("train", []).data
    with pytest.raises(ConfigError, match=r"^data.batch_size must be an integer > 0, got 0$"):
        make_datamodule(data, _compose("cluster", ["run_dir=/x", "data.batch_size=0"]).data)


@pytest.mark.slow
def test_scripts_stop_before_touching_data(tmp_path):
    """The data root and the run dir do not exist: the config error comes first, and nothing is written."""
    p = run_script("train.py", "data=folder", f"data.root={tmp_path}/missing", "frontend.block_size=[512,32]",
                   f"hydra.run.dir={tmp_path}/t")
    assert p.returncode == 2 and "is larger than the spectrogram" in p.stderr, p.stderr[-2000:]
    assert "data root does not exist" not in p.stderr + p.stdout and "Traceback" not in p.stderr
    assert not (tmp_path / "t" / "run_config.yaml").exists() and not (tmp_path / "t" / "checkpoints").exists()
    p = run_script("cluster.py", f"run_dir={tmp_path}/none", "kmeans.k=0", f"hydra.run.dir={tmp_path}/c")
    assert p.returncode == 2 and "kmeans.k must be an integer > 0" in p.stderr, p.stderr[-2000:]
    assert "not a finished train run" not in p.stderr and not list((tmp_path / "c").glob("*.csv"))
