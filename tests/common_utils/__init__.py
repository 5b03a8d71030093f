"""Shared test helpers (audiocraft-style tests/common_utils): generated audio, running the scripts, W&B records."""
from common_utils.audio import blob_clips, chirp, csv_rows, noise, tone, write_tone_folder
from common_utils.scripts import FSDD, ROOT, needs_fsdd, run_script

__all__ = ["FSDD", "ROOT", "blob_clips", "chirp", "csv_rows", "needs_fsdd", "noise", "run_script", "tone", "write_tone_folder"]
