"""Run by test_dec_ddp.py: model=idec (debug config, DEC from the second epoch) trained for STEPS steps a epoch,
2 epochs, in one process or with DDP over gloo ranks, at the same global batch and data order; every rank saves
its step losses, how many clips it embedded for DEC, the DEC centroids and targets right after the DEC init, and
its final centroids.

    python tests/model/dec_ddp_run.py DEVICES GLOBAL_BATCH STEPS CACHE_DIR OUT_DIR

The data order: a DistributedSampler (seeded shuffle) over DEVICES ranks, GLOBAL_BATCH / DEVICES clips each, so
that step k's clips, over all ranks, are the same as one process's. BatchNorm runs in eval mode (its initial
statistics): SyncBatchNorm has no CPU path, and per-rank batch statistics differ from the global batch's.
"""
import sys
import types
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_module
from torch.utils.data import DataLoader, DistributedSampler

from audioclust.tasks.train import build


class Record(L.Callback):
    def __init__(self):
        self.losses, self.init, self.embedded = [], None, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def main(devices: int, global_batch: int, steps: int, cache_dir: str, out: str) -> None:
    torch.set_num_threads(1)
    with initialize_config_module("audioclust.conf", version_base="1.3"):
        cfg = compose("train", overrides=["debug=default", "model=idec", "model.dec.start_epoch=1",
                                          "data.n_clusters=4", f"paths.cache_dir={cache_dir}"])
    L.seed_everything(0, verbose=False)
    datamodule, model = build(cfg)
    for m in model.modules():   # BatchNorm in eval mode throughout (Lightning's model.train() leaves it so)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()
            m.train = types.MethodType(lambda self, mode=True: self, m)

    def train_dataloader(dm):
        ds, t = dm._loader(dm.train_ids, "train", shuffle=False).dataset, dm.trainer
        sampler = DistributedSampler(ds, num_replicas=t.world_size, rank=t.global_rank, shuffle=True, seed=0)
        return DataLoader(ds, batch_size=global_batch // t.world_size, sampler=sampler, drop_last=True)

    datamodule.train_dataloader = types.MethodType(train_dataloader, datamodule)
    record = Record()
    embed = model.embed

    def counted(wave, lengths=None):   # only the DEC pass embeds during fit
        record.embedded += wave.shape[0]
        return embed(wave, lengths)

    model.embed = counted
    refresh = model.dec.refresh

    def refreshed(*args):   # the centroids and targets right after the DEC init
        refresh(*args)
        if record.init is None:
            record.init = {"centroids": model.dec.centroids.detach().clone(), "targets": model.dec.targets.clone()}

    model.dec.refresh = refreshed
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", max_epochs=2,
                        limit_train_batches=steps, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[record])
    trainer.fit(model, datamodule=datamodule)
    torch.save({"losses": torch.tensor(record.losses, dtype=torch.float64), **record.init,
                "final_centroids": model.dec.centroids.detach().clone(), "embedded": record.embedded,
                "n_train": len(datamodule.train_ids)},
               Path(out) / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
