"""The store task: list the embedding store's partitions (encoder, rows, files, size, last written), or prune it.

    audioclust-store                                   # list (store.dir of audioclust-cluster: <paths.cache_dir>/store)
    audioclust-store action=prune                      # rows of files that are gone or changed since
    audioclust-store action=prune prune.older_than_days=90 prune.encoder=blockae
"""
from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from audioclust import checks
from audioclust.embed.store import describe, prune

ACTIONS = ("list", "prune")


def store(cfg: DictConfig) -> None:
    action = checks.choice("action", cfg.action, ACTIONS)
    root = Path(cfg.dir)
    if action == "prune":
        p = cfg.prune
        checks.number("prune.older_than_days", p.older_than_days, strict=False, optional=True)
        removed = prune(root, gone=bool(p.gone), older_than_days=p.older_than_days, name=p.encoder)
        print(f"pruned {removed['rows']} rows and {removed['partitions']} partitions ({removed['bytes'] / 2 ** 20:.1f} MiB)")
    parts = describe(root)
    if not parts:
        print(f"the store {root} is empty")
        return
    print(f"{'encoder':<10} {'rows':>9} {'files':>7} {'MiB':>8}  {'last written':<16}  folder")
    for p in parts:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(p["last_written"])) if p["last_written"] else "-"
        print(f"{p['identity'].get('name', '?'):<10} {p['rows']:>9} {p['files']:>7} {p['bytes'] / 2 ** 20:>8.1f}  {when:<16}  {p['dir']}")
    print(f"{len(parts)} partitions, {sum(p['rows'] for p in parts)} rows, "
          f"{sum(p['bytes'] for p in parts) / 2 ** 20:.1f} MiB in {root}")
