"""Cluster the clips of a trained run with FAISS k-means, or assign new audio to its clusters.

    python cluster.py run_dir=logs/train/runs/<time>                   # fit: k from the data config
    python cluster.py run_dir=... kmeans.k=12 preprocess=l2
    python cluster.py run_dir=... mode=assign input=/new/clips          # nearest fitted centroid
Outputs (in <run_dir>/<mode>/<time>/): assignments.csv, skipped.csv, centroids.npy, embeddings.npy,
metrics.json, map.png, sizes.png, montage.png, wandb/.
"""
import os

os.environ.setdefault("AUDIOCLUST_ROOT", os.path.dirname(os.path.abspath(__file__)))

import hydra  # noqa: E402

from audioclust.tasks.cluster import cluster  # noqa: E402
from audioclust.utils import run_task  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="cluster")
def main(cfg):
    return run_task(cluster, cfg)


if __name__ == "__main__":
    main()
