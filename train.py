"""Train audioclust's block autoencoder on a folder of audio (the same as the `audioclust-train` command).

    python train.py                                   # generated synthetic set (20 classes), CPU or GPU
    python train.py experiment=fsdd data.root=/path/to/fsdd/recordings
    python train.py data=folder data.root=/my/clips   # your own audio
    python train.py trainer=gpu | trainer=ddp | trainer=ddp_cpu
    python train.py -m model.optimizer.lr=0.001,0.0003   # a sweep
    python train.py debug=default                     # tiny and fast
Then: python cluster.py run_dir=<the output dir printed at the end>
"""
from audioclust.cli import train

if __name__ == "__main__":
    train()
