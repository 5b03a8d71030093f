"""Lightning's WandbLogger without its `anonymous=None`: W&B warns on every run that the setting "has no effect and
will be removed" whenever the key is passed at all, and the user's screen should not carry library deprecations."""
from __future__ import annotations

from lightning.pytorch.loggers.wandb import WandbLogger as _LightningWandbLogger


class WandbLogger(_LightningWandbLogger):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
