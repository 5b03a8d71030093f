"""Cluster the clips of a trained run, or assign new audio to its clusters (the same as `audioclust-cluster`).

    python cluster.py run_dir=logs/train/runs/<time>                   # fit: k from the data config
    python cluster.py run_dir=... kmeans.k=12 preprocess=l2
    python cluster.py run_dir=... mode=assign input=/new/clips          # nearest fitted centroid
Outputs (in <run_dir>/<mode>/<time>/): assignments.csv, skipped.csv, centroids.npy, embeddings.npy,
metrics.json, map.png, sizes.png, montage.png, explorer.html, wandb/.
"""
from audioclust.cli import cluster

if __name__ == "__main__":
    cluster()
