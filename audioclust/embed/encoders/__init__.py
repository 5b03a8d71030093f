"""Frozen pretrained audio encoders whose weights ship inside PyPI packages.

Each module wraps one package; the package is imported only when its encoder is built, so importing
this package never needs any of them. Pick one with Hydra: ``encoder=aisfx|birdnet|speech|speaker``.
"""
from audioclust.embed.encoders.base import Encoder

__all__ = ["Encoder"]
