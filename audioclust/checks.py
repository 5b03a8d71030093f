"""Typed checks of config values, used by the constructors that take them (the one place each rule lives).

Each failure is one ConfigError line naming the config key, the value and what is allowed; the scripts turn
it into exit code 2. Objects are built before any data is read or output written, so these come first.
"""
from __future__ import annotations

from audioclust.errors import ConfigError


def _plain(v):
    try:
        from omegaconf import OmegaConf

        return OmegaConf.to_object(v) if OmegaConf.is_config(v) else v
    except ImportError:  # pragma: no cover - omegaconf comes with hydra
        return v


def number(key: str, v, low: float = 0, strict: bool = True, integer: bool = False, optional: bool = False):
    """v, which must be a number > low (>= low when not strict), an integer if asked, or None when optional."""
    if v is None and optional:
        return None
    kind = "an integer" if integer else "a number"
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or (v <= low if strict else v < low):
        bound = f"{'>' if strict else '>='} {low:g}"
        raise ConfigError(f"{key} must be {kind} {bound}{' or null' if optional else ''}, got {_plain(v)!r}")
    return v


def choice(key: str, v, allowed):
    if v not in allowed:
        raise ConfigError(f"unknown {key}={_plain(v)!r}: use one of {', '.join(map(str, allowed))}")
    return v


def pair(key: str, v, optional: bool = False) -> tuple[int, int] | None:
    """Two integers >= 1 (freq, time), e.g. a block size."""
    if v is None and optional:
        return None
    v = _plain(v)
    if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(
            isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v):
        raise ConfigError(f"{key} must be two integers >= 1 (freq, time), got {list(v) if isinstance(v, tuple) else v!r}")
    return int(v[0]), int(v[1])


def int_list(key: str, v) -> list[int]:
    v = _plain(v)
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                                            for w in v):
        raise ConfigError(f"{key} must be a list of integers >= 1, got {v!r}")
    return [int(w) for w in v]


def required(cfg, key: str):
    """cfg's value at key; a `???` (missing) value becomes one line saying how to set it."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except MissingMandatoryValue:
        raise ConfigError(f"{key} is not set: pass {key}=...") from None
