"""Console entry points: `audioclust-train` and `audioclust-cluster` (train.py / cluster.py in a checkout).

    audioclust-train                                    # the generated synthetic set (20 classes)
    audioclust-train data=folder data.root=/my/clips    # your own audio
    audioclust-cluster run_dir=logs/train/runs/<time>   # cluster the run's clips
    audioclust-store [action=prune]                     # the embedding store: list or prune
    audioclust-search fit_dir=<cluster output> query.path=<file>   # the nearest rows of a fit to one of its files
    audioclust-curate fit_dir=<cluster output> curation=curation.json   # names from the explorer applied to a fit
    audioclust-train --config-dir ./my_conf experiment=mine   # your own configs beside the packaged ones

The configs ship inside the package (audioclust/conf, from the repository's conf/); outputs go under the
current directory (logs/) or $AUDIOCLUST_HOME.
"""
import hydra

from audioclust.utils import run_task

CONF = "pkg://audioclust.conf"


@hydra.main(version_base="1.3", config_path=CONF, config_name="train")
def train(cfg):
    from audioclust.tasks.train import train as task

    return run_task(task, cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="cluster")
def cluster(cfg):
    from audioclust.tasks.cluster import cluster as task

    return run_task(task, cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="store")
def store(cfg):
    from audioclust.tasks.store import store as task

    return run_task(task, cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="search")
def search(cfg):
    from audioclust.tasks.search import search as task

    return run_task(task, cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="curate")
def curate(cfg):
    from audioclust.tasks.curate import curate as task

    return run_task(task, cfg)
