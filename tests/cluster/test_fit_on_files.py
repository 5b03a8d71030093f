"""cluster.fit_on: clips and long recordings in one folder. Clips are one row each, a recording one row per window;
fitted on one row per file, a recording counts once, as a clip does, and its windows are assigned afterwards."""
import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score as nmi

from audioclust.cluster.methods import KMeans
from audioclust.cluster.pipeline import Clusterer, FileRows, Stage
from audioclust.data.windowing import whole_files
from audioclust.errors import ConfigError

CLIPS = [2.0] * 6   # seconds
RECORDING = [600.0]


@pytest.mark.parametrize("fit_on, durations, up_to, k, files", [
    ("auto", CLIPS + RECORDING, 30.0, 2, True),                  # mostly clips: each file once
    ("auto", CLIPS, 30.0, 2, False),                             # no long file: the rows are the files
    ("auto", CLIPS + RECORDING * 7, 30.0, 2, False),             # mostly recordings: their windows
    ("auto", CLIPS + RECORDING, 30.0, 8, False),                 # fewer files than clusters
    ("auto", CLIPS + RECORDING, None, 2, False),                 # no file pooled (hop_seconds=null)
    ("auto", CLIPS + RECORDING, 30.0, lambda z: 2, True),        # k searched: no count to check
    ("files", CLIPS + RECORDING * 7, 30.0, 2, True),
    ("rows", CLIPS + RECORDING, 30.0, 2, False),
])
def test_fits_files_when_most_files_are_clips_beside_long_recordings(fit_on, durations, up_to, k, files):
    assert Clusterer(Stage(), fit_on=fit_on).fits_files(~whole_files(durations, up_to), k) is files


def test_bad_fit_on_is_one_config_error():
    with pytest.raises(ConfigError, match="cluster.fit_on"):
        Clusterer(Stage(), fit_on="windows")


def _folder(seed=0):
    """40 clips of two kinds (one row each, on the x axis) and a recording of 400 windows spread along y, its first
    half sounding as the first kind (x = 0), its second as the second (x = 4): fitted on every row, k-means spends its
    clusters on the recording's spread; the recording's mean lies between the kinds. Also each window's kind."""
    rng = np.random.default_rng(seed)
    kind, heard = np.repeat([0, 1], 20), np.repeat([0, 1], 200)
    clips = np.c_[4.0 * kind, np.zeros(40)] + rng.normal(scale=0.3, size=(40, 2))
    windows = np.c_[4.0 * heard, rng.uniform(-50, 50, 400)]
    x = np.r_[clips[:10], windows, clips[10:]].astype(np.float32)   # rows in sample-id order: the recording's file
    of_row = np.r_[np.arange(10), np.full(400, -1), np.arange(11, 41)]   # sorts between clips 9 and 10
    files = np.r_[clips[:10], windows.mean(0, keepdims=True), clips[10:]].astype(np.float32)
    return x, FileRows(files, None, of_row), kind, heard


def _lands_with_its_kind(labels, clip, kind, heard, at_least=1.0):
    """Each window of the recording (at least this fraction of them) is in the cluster of the clips of the kind it
    sounds like."""
    cluster_of = {k: np.bincount(labels[clip][kind == k]).argmax() for k in (0, 1)}
    assert cluster_of[0] != cluster_of[1]
    right = labels[~clip] == np.where(heard == 0, cluster_of[0], cluster_of[1])
    assert right.mean() >= at_least, f"{right.sum()} of {len(right)} windows in their kind's cluster"


@pytest.mark.parametrize("reduce", [{}, {"method": "pca", "dim": 2}])
def test_fit_files_gives_clips_their_clusters_and_assigns_every_window(reduce):
    x, files, kind, heard = _folder()
    clip = files.of_row >= 0
    on_rows = Clusterer(Stage("none", reduce, KMeans(nredo=5), seed=0)).fit(x, None, 2)[0]
    assert nmi(kind, on_rows[clip]) < 0.2                   # the recording's windows took both clusters
    clusterer = Clusterer(Stage("none", reduce, KMeans(nredo=5), seed=0))
    labels, dists, z, centroids = clusterer.fit_files(files, x, None, 2)
    assert len(labels) == len(dists) == len(z) == len(x) and centroids.shape == (2, 2)
    assert nmi(kind, labels[clip]) == 1.0                   # each kind of clip its own cluster
    again = clusterer.assign(x, None)                        # the windows as assign puts them in the same clusters
    np.testing.assert_array_equal(again[0], labels)
    np.testing.assert_allclose(again[1], dists, rtol=1e-5, atol=1e-5)
    _lands_with_its_kind(labels, clip, kind, heard)


@pytest.mark.slow
def test_fit_files_with_umap_places_the_windows_by_the_clips_rows():
    x, files, kind, heard = _folder()
    clip = files.of_row >= 0
    clusterer = Clusterer(Stage("none", {"method": "umap", "dim": 2, "n_neighbors": 10}, KMeans(nredo=5), seed=0))
    labels, dists, z, _ = clusterer.fit_files(files, x, None, 2)
    assert nmi(kind, labels[clip]) == 1.0 and len(labels) == len(x) and np.isfinite(z).all()
    # each window takes the cluster of its nearest clip (the recording's pooled row, nearer to many, places none),
    # far from every clip (|y| up to 50, the clips at 0): 365 of 400 right with seed 0 when written
    _lands_with_its_kind(labels, clip, kind, heard, at_least=0.9)
    assert len(clusterer.content.near.rows) == 40   # the clips' rows are what later runs place new audio by
