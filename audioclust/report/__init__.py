"""Reporting: plots, the explorer page, W&B, exports for annotation tools."""
