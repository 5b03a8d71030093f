"""Check a composed config before any work starts: one ConfigError (exit 2) naming the key, the value and
what is allowed. train.py and cluster.py call these first, before data, models or output files are touched.

The spectrogram shape is worked out from the numbers (no nnAudio kernels are built here); Frontend checks the
same thing again on the real spectrogram when it is built."""
from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from audioclust.cluster.kmeans import Preprocess
from audioclust.cluster.pipeline import TARGETS
from audioclust.cluster.reduce import METHODS as REDUCE
from audioclust.errors import ConfigError
from audioclust.frontend import ALIGNS, KINDS as FRONTEND_KINDS, NORMS
from audioclust.model.module import POOLINGS

MODES, DEVICES = ("fit", "assign"), ("auto", "cpu", "cuda")


def _get(cfg: DictConfig, key: str):
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except MissingMandatoryValue:
        raise ConfigError(f"{key} is not set: pass {key}=...") from None


def _number(cfg, key: str, low: float = 0, strict: bool = True, integer: bool = False, optional: bool = False):
    """The value of `key`, which must be a number > low (>= low when not strict), or null when optional."""
    v = _get(cfg, key)
    if v is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or (v <= low if strict else v < low):
        bound = f"{'>' if strict else '>='} {low:g}"
        raise ConfigError(f"{key} must be {kind} {bound}{' or null' if optional else ''}, got {v!r}")
    return v


def _choice(cfg, key: str, allowed: tuple):
    v = _get(cfg, key)
    if v not in allowed:
        raise ConfigError(f"unknown {key}={v!r}: use one of {', '.join(map(str, allowed))}")
    return v


def _pair(cfg, key: str, optional: bool = False):
    v = _get(cfg, key)
    if v is None and optional:
        return None
    if not OmegaConf.is_list(v) or len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1
                                                           for x in v):
        raise ConfigError(f"{key} must be two integers >= 1 (freq, time), got {OmegaConf.to_object(v) if OmegaConf.is_list(v) else v!r}")
    return tuple(v)


def spectrogram_shape(fe: DictConfig) -> tuple[int, int]:
    """(freq bins, frames) of one clip, as nnAudio computes it (centred frames)."""
    n_samples = int(round(fe.sr * fe.clip_seconds))
    hop = int(fe.get("hop_length") or max(1, round(fe.sr / fe.frames_per_second)))
    freq = {"mel": lambda: fe.n_mels, "stft": lambda: fe.n_fft // 2 + 1, "cqt": lambda: fe.n_bins}[fe.kind]()
    return int(freq), n_samples // hop + 1


def validate_data(cfg: DictConfig, prefix: str = "data") -> None:
    d = lambda k: f"{prefix}.{k}"  # noqa: E731
    if not cfg[prefix].get("synthetic") and _get(cfg, d("root")) in (None, ""):
        raise ConfigError(f"{prefix}.root is not set: pass {prefix}.root=/path/to/clips")
    _number(cfg, d("sr"), integer=True)
    _number(cfg, d("clip_seconds"))
    _number(cfg, d("hop_seconds"), optional=True)
    _number(cfg, d("batch_size"), integer=True)
    _number(cfg, d("num_workers"), strict=False, integer=True)
    _number(cfg, d("max_files"), integer=True, optional=True)
    _number(cfg, d("trim_db"), optional=True)
    _number(cfg, d("n_clusters"), integer=True, optional=True)
    vf = _number(cfg, d("val_fraction"), strict=False)
    if vf >= 1:
        raise ConfigError(f"{prefix}.val_fraction must be in [0, 1), got {vf}")


def validate_frontend(cfg: DictConfig) -> tuple[int, int]:
    kind = _choice(cfg, "frontend.kind", FRONTEND_KINDS)
    _choice(cfg, "frontend.norm", NORMS)
    _choice(cfg, "frontend.align", ALIGNS)
    _choice(cfg, "frontend.channels", (1, 3))
    for key in ("n_fft", "frames_per_second") + (("n_mels",) if kind == "mel" else ()) + \
            (("n_bins", "bins_per_octave") if kind == "cqt" else ()):
        _number(cfg, f"frontend.{key}", integer=key != "frames_per_second")
    block = _pair(cfg, "frontend.block_size")
    _pair(cfg, "frontend.block_hop", optional=True)
    spec = spectrogram_shape(cfg.frontend)
    if any(b > s for b, s in zip(block, spec)):
        raise ConfigError(f"frontend.block_size {list(block)} (freq, time) is larger than the spectrogram "
                          f"{list(spec)} of a {cfg.frontend.clip_seconds} s clip: use a smaller block or a longer clip")
    lifter = _number(cfg, "frontend.lifter", strict=False, integer=True, optional=True)  # null: older run configs
    if lifter and lifter >= spec[0]:
        raise ConfigError(f"frontend.lifter={lifter} must be below the number of frequency bins ({spec[0]})")
    return block


def validate_train(cfg: DictConfig) -> None:
    validate_data(cfg)
    block = validate_frontend(cfg)
    widths = _get(cfg, "model.net.widths")
    if not OmegaConf.is_list(widths) or not widths or not all(isinstance(w, int) and w >= 1 for w in widths):
        raise ConfigError(f"model.net.widths must be a list of integers >= 1, got {widths}")
    _number(cfg, "model.net.code_channels", integer=True)
    _choice(cfg, "model.pooling", POOLINGS)
    _number(cfg, "model.optimizer.lr")
    scale = 2 ** len(widths)
    if any(b % scale for b in block):
        raise ConfigError(f"frontend.block_size {list(block)} must be divisible by 2^len(model.net.widths) = {scale}")
    if _get(cfg, "trainer.max_epochs") != -1:  # -1: no limit (Lightning)
        _number(cfg, "trainer.max_epochs", integer=True)
    _number(cfg, "seed", strict=False, integer=True)


def validate_cluster(cfg: DictConfig) -> None:
    _get(cfg, "run_dir")
    _choice(cfg, "mode", MODES)
    _number(cfg, "kmeans.k", integer=True, optional=True)
    search = _get(cfg, "kmeans.search")
    if search is not None and (not OmegaConf.is_list(search) or len(search) != 2 or not 2 <= search[0] <= search[1]):
        raise ConfigError(f"kmeans.search must be [min, max] with 2 <= min <= max, got {search}")
    for key in ("niter", "nredo", "max_points_per_centroid"):
        _number(cfg, f"kmeans.{key}", integer=True)
    _number(cfg, "kmeans.refine", strict=False, integer=True)
    groups = _number(cfg, "voice.groups", strict=False, integer=True)
    _number(cfg, "voice.rounds", strict=False, integer=True)
    if _choice(cfg, "voice.target", TARGETS) == "voice" and not groups:
        raise ConfigError("voice.target=voice clusters the voice groups: set voice.groups > 0 (their number)")
    _choice(cfg, "preprocess", Preprocess.KINDS)
    _choice(cfg, "reduce.method", REDUCE)
    _number(cfg, "reduce.dim", integer=True)
    _choice(cfg, "device", DEVICES)
    _number(cfg, "report.examples_per_cluster", integer=True)
    _number(cfg, "data.batch_size", integer=True, optional=True)
    _number(cfg, "data.max_files", integer=True, optional=True)
    _number(cfg, "seed", strict=False, integer=True)
