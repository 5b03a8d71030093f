"""Convolutional autoencoder over spectrogram blocks: (C, bf, bt) -> code (code_channels, bf/2^d, bt/2^d)."""
from __future__ import annotations

from torch import nn

from audioclust import checks
from audioclust.errors import ConfigError


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.GELU())


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.GELU())


class ConvAutoencoder(nn.Module):
    """Each width is one stride-2 stage; the code is a 1x1 projection to `code_channels`."""

    def __init__(self, in_channels: int, block_size, widths=(32, 64, 128), code_channels: int = 8):
        super().__init__()
        widths = checks.int_list("model.net.widths", widths)
        checks.number("model.net.code_channels", code_channels, integer=True)
        scale = 2 ** len(widths)
        if any(int(s) % scale for s in block_size):
            raise ConfigError(f"frontend.block_size {[int(s) for s in block_size]} must be divisible by "
                              f"2^len(model.net.widths) = {scale}")
        self.in_channels, self.block_size = int(in_channels), tuple(int(s) for s in block_size)
        self.code_shape = (code_channels, block_size[0] // scale, block_size[1] // scale)
        chans = [in_channels] + widths
        self.encoder = nn.Sequential(*[_down(a, b) for a, b in zip(chans[:-1], chans[1:])],
                                     nn.Conv2d(widths[-1], code_channels, 1))
        rev = widths[::-1]
        self.decoder = nn.Sequential(nn.Conv2d(code_channels, rev[0], 1), nn.GELU(),
                                     *[_up(a, b) for a, b in zip(rev, rev[1:] + [rev[-1]])],
                                     nn.Conv2d(rev[-1], in_channels, 3, padding=1))

    @property
    def code_dim(self) -> int:
        c, h, w = self.code_shape
        return c * h * w

    def forward(self, x):
        code = self.encoder(x)
        return self.decoder(code), code
