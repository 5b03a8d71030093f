"""Shared test helpers (audiocraft-style tests/common_utils): generated audio, running the scripts, W&B records."""
from common_utils.audio import chirp, noise, tone, write_tone_folder
from common_utils.scripts import FSDD, ROOT, needs_fsdd, run_script

__all__ = ["FSDD", "ROOT", "chirp", "needs_fsdd", "noise", "run_script", "tone", "write_tone_folder"]
