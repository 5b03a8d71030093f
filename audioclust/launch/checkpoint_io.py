"""Lightning checkpoint IO that writes atomically (temp file + rename) and loads only plain tensors.

Lightning's own TorchCheckpointIO writes through fsspec, whose local "transaction" puts the temp file in
/tmp and moves it over: on another file system that is a copy, so a kill can leave half a `last.ckpt`.
Loading uses `weights_only=True` whatever the caller asks, so resuming from a crafted checkpoint cannot
run code; it fails with a CheckpointError instead.
"""
from __future__ import annotations

from pathlib import Path

from lightning.pytorch.plugins.io import TorchCheckpointIO

from audioclust import io
from audioclust.errors import CheckpointError


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        io.save_torch(path, checkpoint)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        if weights_only is False:
            raise CheckpointError(f"refusing to load {path} with weights_only=False")
        return io.load_torch(Path(path), map_location=map_location or "cpu")
