"""Train audioclust's block autoencoder on a folder of audio.

    python train.py                                   # embedded synthetic set (20 classes), CPU or GPU
    python train.py experiment=fsdd                   # Free Spoken Digit Dataset (data.root=...)
    python train.py data=folder data.root=/my/clips   # your own audio
    python train.py trainer=gpu | trainer=ddp | trainer=ddp_cpu
    python train.py -m model.optimizer.lr=0.001,0.0003   # a sweep
    python train.py debug=default                     # tiny and fast
Then: python cluster.py run_dir=<the output dir printed at the end>
"""
import os

os.environ.setdefault("AUDIOCLUST_ROOT", os.path.dirname(os.path.abspath(__file__)))

import hydra  # noqa: E402

from audioclust.tasks.train import train  # noqa: E402
from audioclust.utils import run_task  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg):
    return run_task(train, cfg)


if __name__ == "__main__":
    main()
