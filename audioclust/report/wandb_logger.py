"""Lightning's WandbLogger without its `anonymous=None`: W&B warns on every run that the setting "has no effect and
will be removed" whenever the key is passed at all, and the user's screen should not carry library deprecations."""
from __future__ import annotations

from lightning.pytorch.loggers.wandb import WandbLogger as _LightningWandbLogger


class WandbLogger(_LightningWandbLogger):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        init = getattr(self, "_wandb_init", None)   # Lightning's private dict of wandb.init arguments
        if isinstance(init, dict) and "anonymous" in init and init["anonymous"] is None:
            init.pop("anonymous")
