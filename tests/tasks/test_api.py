"""The Python API (audioclust/api.py, docs/api.md) as a user calls it: embed a folder with a trained run, cluster,
assign new rows, state round trip; the same clusters as cluster.py writes; the guide's example runs."""
import csv
import filecmp
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from common_utils import ROOT, run_script, write_tone_folder

import audioclust
from audioclust.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """This module's API calls and its cluster.py runs (threads=1) on one thread each: float sums depend on the
    thread count, and another test file may have changed this worker process's."""
    import torch

    from audioclust.cluster.faiss_backend import load_faiss

    faiss, before = load_faiss(), torch.get_num_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    yield
    torch.set_num_threads(before)
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny train run, and cluster.py's fits of its data: k-means, k-means after UMAP, HDBSCAN after UMAP."""
    tmp = tmp_path_factory.mktemp("api")
    p = run_script("train.py", "debug=default", f"paths.cache_dir={tmp}/cache", "data.synthetic.n_per_class=5",
                   "data.max_files=null", f"hydra.run.dir={tmp}/run")
    assert p.returncode == 0, p.stderr[-3000:]
    for name, *args in (("km", "kmeans.k=4"), ("umap", "kmeans.k=4", "reduce.method=umap"),
                        ("hdb", "cluster.method=hdbscan", "reduce.method=umap")):
        p = run_script("cluster.py", f"run_dir={tmp}/run", f"hydra.run.dir={tmp}/run/fit/{name}", "report.plots=false",
                       "report.explorer=false", "store.dir=null", "threads=1", *args)   # embedded afresh, as the API below
        assert p.returncode == 0, p.stderr[-3000:]
    return tmp / "run"


@pytest.fixture(scope="module")
def emb(run):
    return audioclust.embed(run_dir=run)


def _clusters(csv_path):
    with open(csv_path, newline="") as f:
        return [int(r["cluster"]) for r in csv.DictReader(f)]


@pytest.mark.parametrize("fit, options", [("km", dict(k=4)), ("umap", dict(k=4, reduce="umap")),
                                          ("hdb", dict(method="hdbscan", reduce="umap"))])
def test_same_clusters_and_files_as_cluster_py(run, emb, tmp_path, fit, options):
    clusters = audioclust.cluster(emb, **options)
    assert clusters.labels_.tolist() == _clusters(run / "fit" / fit / "assignments.csv")
    audioclust.write_outputs(clusters, emb, tmp_path)
    for name in ("assignments.csv", "clusters.parquet", "centroids.npy", "preprocess.npz", "embeddings.npy", "skipped.csv"):
        assert filecmp.cmp(tmp_path / name, run / "fit" / fit / name, shallow=False), name


def test_embeddings_rows(run, emb):
    assert emb.vectors.dtype == np.float32 and emb.vectors.shape == (100, 128) and emb.encoder == "blockae"
    assert len(emb) == len(emb.path) == len(emb.offset) == len(emb.duration) == len(emb.label) == 100
    assert all(Path(p).is_file() and Path(p).parent.name == lab for p, lab in zip(emb.path, emb.label))
    assert set(emb.duration.tolist()) == {1.0} and emb.skipped == ()
    assert np.array_equal(emb.vectors, np.load(run / "fit" / "km" / "embeddings.npy"))


def test_a_list_of_files_is_embedded_as_in_its_folder(run, emb):
    picked = [emb.path[i] for i in (0, 37, 99)]
    some = audioclust.embed(picked, run_dir=run)
    assert some.path == tuple(sorted(picked, key=emb.path.index))   # the caller's paths, not the temporary links
    rows = [emb.path.index(p) for p in some.path]
    np.testing.assert_allclose(some.vectors, emb.vectors[rows], rtol=1e-5, atol=1e-6)
    assert some.label == tuple(emb.label[i] for i in rows)


def test_assign_and_state_round_trip(run, emb):
    clusters = audioclust.cluster(emb, k=4)   # the default reduction, UMAP: its model places rows anew (near, not at)
    assert clusters.assign(emb.vectors[10:20])[0].tolist() == clusters.labels_[10:20].tolist()
    plain = audioclust.cluster(emb, k=4, reduce="none")   # no reduction: the same rows, the same distances
    labels, dists = plain.assign(emb.vectors[10:20])
    assert labels.tolist() == plain.labels_[10:20].tolist()
    np.testing.assert_allclose(dists, plain.distances_[10:20], rtol=1e-5)
    again = audioclust.Clusters.from_state({k: np.asarray(v) for k, v in clusters.state().items()})
    assert again.assign(emb)[0].tolist() == clusters.labels_.tolist()
    fitted = audioclust.Clusters.from_state(dict(np.load(run / "fit" / "km" / "preprocess.npz")))   # cluster.py's fit
    assert fitted.assign(emb)[0].tolist() == _clusters(run / "fit" / "km" / "assignments.csv")


def test_exports_the_rows_clusters(emb, tmp_path):
    clusters = audioclust.cluster(emb, k=4)
    written = audioclust.export(clusters, emb, tmp_path, raven=True, audacity=False)
    table = (tmp_path / "raven" / "all.Table.1.selections.txt").read_text().splitlines()
    assert written["raven"] and len(table) == 1 + len(emb)


def test_a_plain_array():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 10
    x = np.concatenate([c + rng.normal(size=(40, 16)) for c in centres]).astype(np.float32)
    truth = np.repeat(np.arange(3), 40)
    for clusters in (audioclust.cluster(x, k=3), audioclust.cluster(x, method="agglomerative", k=3, preprocess="none"),
                     audioclust.cluster(x, method="hdbscan", reduce="pca", min_cluster_size=10)):
        labels = clusters.labels_
        assert len(set(labels.tolist()) - {-1}) == 3, clusters.method
        assert all(len(set(labels[truth == t].tolist()) - {-1}) == 1 for t in range(3)), clusters.method
        assert clusters.centroids_.shape[0] == 3 and clusters.distances_.shape == (120,)


def test_weights_choose_which_columns_group_the_rows():
    """weights (encoder=mix's per-column factors after the z-score): the columns weighted up decide the clusters."""
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    first, second = np.repeat([0, 1], 40), np.tile([0, 1], 40)   # two groupings of the same 80 rows
    x = np.concatenate([first[:, None] * 6 + rng.normal(size=(80, 4)), second[:, None] * 6 + rng.normal(size=(80, 4))], 1)
    for weights, truth in ((np.r_[np.ones(4), np.full(4, 0.01)], first), (np.r_[np.full(4, 0.01), np.ones(4)], second)):
        labels = audioclust.cluster(x, k=2, weights=weights.astype(np.float32)).labels_
        assert adjusted_rand_score(truth, labels) == 1.0


def test_bad_options_are_one_clear_error(run):
    x = np.zeros((10, 4), np.float32)
    for call, needle in ((lambda: audioclust.cluster(x), "needs k"),
                         (lambda: audioclust.cluster(x, method="hdbscan", k=3), "drop k"),
                         (lambda: audioclust.cluster(x, method="nope", k=3), "no such clustering method"),
                         (lambda: audioclust.cluster(x, k=3, niterr=3), "niterr"),
                         (lambda: audioclust.cluster(np.zeros(5), k=2), "(n, d) array"),
                         (lambda: audioclust.embed(run_dir=run, windowing={"clip": 2}), "not one of clip_seconds"),
                         (lambda: audioclust.embed(run_dir=run, windowing={"clip_seconds": 2}), "train with it"),
                         (lambda: audioclust.embed(run_dir=run, device="tpu"), "device"),
                         (lambda: audioclust.embed(["/no/such.wav"], run_dir=run), "no such file"),
                         (lambda: audioclust.embed("x", encoder="nope"), "not a pretrained encoder")):
        with pytest.raises(ConfigError, match=re.escape(needle)):
            call()


def test_tables(emb):
    for method, module in (("to_pandas", "pandas"), ("to_arrow", "pyarrow")):
        if importlib.util.find_spec(module) is None:
            with pytest.raises(ConfigError, match=f"pip install {module}"):
                getattr(emb, method)()
            continue
        table = getattr(emb, method)()
        assert len(table) == len(emb) and list(table.column_names if module == "pyarrow" else table.columns)[:3] == [
            "path", "offset", "duration"]


def test_a_pretrained_encoder_needs_no_run(tmp_path):
    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra: pip install 'audioclust[speech]'")
    folder = write_tone_folder(tmp_path)
    emb = audioclust.embed(folder, encoder="speech", labels={"source": "parent"})
    assert len(emb) == 12 and emb.encoder == "speech" and set(emb.label) == {"low", "up", "noise"}
    assert len(set(audioclust.cluster(emb, k=3).labels_.tolist())) == 3
    # a Windowing replaces the defaults whole (None: no pooling); a dict changes only the fields it names
    halves = audioclust.embed(folder, encoder="speech", windowing=audioclust.Windowing(0.5, 0.5, None))
    assert len(halves) == 24 and set(halves.duration.tolist()) == {0.5} and sorted(set(halves.offset.tolist())) == [0.0, 0.5]
    same = audioclust.embed(folder, encoder="speech", windowing={"clip_seconds": 0.5, "hop_seconds": 0.5, "pool_windows_up_to": 0})
    assert same.path == halves.path and np.array_equal(same.vectors, halves.vectors)


def test_a_list_of_encoders_is_a_mix_and_its_members_are_clustered_by_consensus(tmp_path):
    """encoder=[...] (encoder=mix): the members' embeddings side by side with their column weights and groups;
    method="consensus" clusters each member on its own and combines them."""
    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra: pip install 'audioclust[speech]'")
    pytest.importorskip("resemblyzer", reason="encoder=speaker needs its extra: pip install 'audioclust[speaker]'")
    folder = write_tone_folder(tmp_path)
    emb = audioclust.embed(folder, encoder=["speech", "speaker"], labels={"source": "parent"})
    assert emb.encoder == "mix" and emb.vectors.shape == (12, 96 + 256)
    # each member's columns are that encoder's own embedding; through a store, a member embedded before is reused
    store = tmp_path / "store"
    speech = audioclust.embed(folder, encoder="speech", store=store)
    assert np.array_equal(emb.vectors, np.c_[speech.vectors, audioclust.embed(folder, encoder="speaker").vectors])
    stored = audioclust.embed(folder, encoder=["speech", "speaker"], store=store)
    assert np.array_equal(stored.vectors, emb.vectors)
    assert sorted(p.name.split("-")[0] for p in store.iterdir()) == ["speaker", "speech"]   # no store of the mix's own
    assert emb.groups.tolist() == [0] * 96 + [1] * 256 and np.allclose(emb.weights, np.r_[[96 ** -0.5] * 96, [1 / 16] * 256])
    got = audioclust.cluster(emb, method="consensus", k=3, reduce="none", runs=2)
    assert sorted(np.bincount(got.labels_).tolist()) == [4, 4, 4]
    same = audioclust.cluster(emb.vectors, method="consensus", k=3, reduce="none", runs=2, weights=emb.weights, groups=emb.groups)
    assert np.array_equal(same.labels_, got.labels_)   # groups given with an array: what Embeddings carry
    assert audioclust.cluster(emb, k=3, reduce="none").labels_.shape == (12,)   # the Embeddings' groups: not k-means'
    with pytest.raises(ConfigError, match="groups= is for method='consensus' .* method='kmeans' clusters every column together"):
        audioclust.cluster(emb.vectors, k=3, groups=emb.groups)
    for bad, message in ((["speech"], "at least two different pretrained encoders"),
                         (["speech", "blockae"], "a mix with the block autoencoder is made by audioclust-cluster"),
                         (["speech", "nope"], "'nope' is not a pretrained encoder")):
        with pytest.raises(ConfigError, match=message):
            audioclust.embed(folder, encoder=bad)


def test_embeddings_through_a_store_are_reused(tmp_path, capsys):
    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra: pip install 'audioclust[speech]'")
    folder = write_tone_folder(tmp_path)
    first = audioclust.embed(folder, encoder="speech", store=tmp_path / "store")
    assert "embedding: 12 windows embedded, 0 reused" in capsys.readouterr().out
    files = sorted(str(p) for p in folder.rglob("*.wav"))[:5]
    again = audioclust.embed(files, encoder="speech", store=tmp_path / "store")   # a list of the same files
    assert "embedding: 0 windows embedded, 5 reused" in capsys.readouterr().out
    mine = {p: v for p, v in zip(first.path, first.vectors)}
    assert list(again.path) == files and all(np.array_equal(mine[p], v) for p, v in zip(again.path, again.vectors))


def test_encoder_options_reach_the_encoder_and_its_store_key(tmp_path, capsys, monkeypatch):
    """encoder_options are encoder.<option>= of the command line: they reach the adapter (aisfx's network in float32,
    then in bf16: other bits, nearly the same vectors), they are part of the store's key (rows made with other options
    are not reused), and a wrong one is one line."""
    pytest.importorskip("aisfx", reason="encoder=aisfx needs its extra")
    from audioclust.embed.encoders import base
    monkeypatch.setattr(base, "_said", set())   # each decision said again, as in a new process
    folder = write_tone_folder(tmp_path)
    files = sorted(str(p) for p in folder.rglob("*.wav"))[:3]
    plain = audioclust.embed(files, encoder="aisfx", store=tmp_path / "store", encoder_options={"precision": "32"})
    assert "the network in float32 (precision=32" in capsys.readouterr().out
    bf16 = audioclust.embed(files, encoder="aisfx", store=tmp_path / "store", encoder_options={"precision": "bf16"})
    out = capsys.readouterr().out
    assert "embedding: 3 windows embedded, 0 reused" in out and "the network in bf16 autocast, channels-last" in out
    assert not np.array_equal(plain.vectors, bf16.vectors)
    cos = (plain.vectors * bf16.vectors).sum(1) / np.linalg.norm(plain.vectors, axis=1) / np.linalg.norm(bf16.vectors, axis=1)
    assert cos.min() > 0.999, cos
    for encoder, options, message in (("aisfx", {"nope": 1}, r"'nope' is not an option of encoder=aisfx \(its options: hop, "),
                                      ("aisfx", {"name": "x"}, "'name' is not an option"),
                                      ("aisfx", {"precision": "16"}, "encoder.precision must be one of auto, 32, bf16, got '16'"),
                                      (["speech", "speaker"], {"threads": 1}, "apply to one pretrained encoder"),
                                      ("blockae", {"x": 1}, "the block autoencoder's options are its train.py run's")):
        with pytest.raises(ConfigError, match=message):
            audioclust.embed(files, encoder=encoder, encoder_options=options)


def test_speed_options_are_not_part_of_the_store_key(tmp_path, capsys):
    """The speech model's clip_batch and threads change the speed, not the rows: rows stored with others are
    reused (store.SPEED_ONLY, aisfx's block_batch too)."""
    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra")
    files = sorted(str(p) for p in write_tone_folder(tmp_path).rglob("*.wav"))[:3]
    first = audioclust.embed(files, encoder="speech", store=tmp_path / "store", encoder_options={"clip_batch": 64})
    capsys.readouterr()
    again = audioclust.embed(files, encoder="speech", store=tmp_path / "store", encoder_options={"threads": 1})
    assert "embedding: 0 windows embedded, 3 reused" in capsys.readouterr().out
    assert again.vectors.shape == first.vectors.shape == (3, 96)


def test_import_is_cheap_and_steps_are_the_subpackages_too():
    code = "import sys, audioclust; print(sorted(m for m in ('torch', 'numpy', 'omegaconf', 'lightning') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    from audioclust.cluster.pipeline import Clusterer
    assert audioclust.cluster.pipeline.Clusterer is Clusterer and callable(audioclust.cluster) and callable(audioclust.embed)


def test_the_api_type_checks():
    pytest.importorskip("mypy")
    p = subprocess.run([sys.executable, "-m", "mypy", "audioclust/api.py", "audioclust/__init__.py", "--ignore-missing-imports",
                        "--follow-imports=silent", "--disallow-untyped-defs", "--disallow-incomplete-defs", "--warn-return-any",
                        "--no-implicit-optional", "--warn-unused-ignores", "--no-incremental"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-3000:]


def test_the_guide_example_runs(tmp_path):
    text = (ROOT / "docs" / "api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", TMPDIR=str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    assert lines[0] == "18 rows of 128 dimensions"
    groups = {line.split(" ", 1)[1] for line in lines[1:4]}   # each kind of sound its own cluster
    assert groups == {str([f"{kind}_{i}" for i in range(6)]) for kind in ("high", "low", "noise")}
    for noise in ("Warning", "warn(", "Tip:", "GPU available", "Traceback"):
        assert noise not in p.stdout + p.stderr, noise


def test_a_mix_reads_each_member_at_its_own_rate_through_its_own_store(tmp_path, capsys):
    """encoder=["speaker", "aisfx"]: speaker reads the 16 kHz clips at 16 kHz, aisfx at 44.1 kHz, each as a run of it
    alone does: aisfx's rows written by an earlier encoder="aisfx" are reused, bit for bit."""
    pytest.importorskip("aisfx", reason="encoder=aisfx needs its extra")
    pytest.importorskip("resemblyzer", reason="encoder=speaker needs its extra: pip install 'audioclust[speaker]'")
    folder = write_tone_folder(tmp_path)
    store = tmp_path / "store"
    aisfx = audioclust.embed(folder, encoder="aisfx", store=store)
    capsys.readouterr()
    mix = audioclust.embed(folder, encoder=["speaker", "aisfx"], store=store)
    said = capsys.readouterr().out
    assert "embedding: 0 windows embedded, 12 reused from the store" in said and "/aisfx-" in said
    assert mix.vectors.shape == (12, 256 + 512) and np.array_equal(mix.vectors[:, 256:], aisfx.vectors)
    assert np.array_equal(mix.vectors[:, :256], audioclust.embed(folder, encoder="speaker").vectors)
