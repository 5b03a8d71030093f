"""Frozen pretrained audio encoders whose weights ship inside PyPI packages.

Each module wraps one package; the package is imported only when its encoder is built, so importing
this package never needs any of them. Pick one with Hydra: ``encoder=<name>``, one of conf/encoder/*.yaml
(``registry``: the config group is the list; each adapter class declares its packages, install command and licence).
"""
from audioclust.embed.encoders.base import Encoder

__all__ = ["Encoder"]
