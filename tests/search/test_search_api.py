"""audioclust.search on real embeddings of a tiny folder (encoder=speech): rows of the set, vectors, or audio
embedded apart, answered as a table of the set's rows."""
import numpy as np
import pytest
from common_utils import write_tone_folder

import audioclust
from audioclust.errors import ConfigError
from audioclust.search.index import Index


@pytest.fixture(scope="module")
def emb(tmp_path_factory):
    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra: pip install 'audioclust[speech]'")
    return audioclust.embed(write_tone_folder(tmp_path_factory.mktemp("tones")), encoder="speech", labels={"source": "parent"})


def test_rows_of_the_set_get_their_nearest_other_rows(emb):
    m = audioclust.search(emb, [0, 5], n=4)
    assert isinstance(m, audioclust.Matches) and len(m) == 8
    assert m.query.tolist() == [0] * 4 + [1] * 4 and m.rank.tolist() == [1, 2, 3, 4] * 2
    assert 0 not in m.row[:4] and 5 not in m.row[4:], "a row is not its own neighbour"
    assert (np.diff(m.distance[:4]) >= 0).all() and (np.diff(m.distance[4:]) >= 0).all()
    index = Index.build(emb.vectors)   # the same answer as the index itself, less the row
    assert m.row[:4].tolist() == [i for i in index.search(emb.vectors[0], 5, gpu=False).ids[0] if i != 0][:4]
    assert m.path == tuple(emb.path[r] for r in m.row) and (m.offset == emb.offset[m.row]).all()
    assert m.label == tuple(emb.label[r] for r in m.row)
    assert m.query_path == (emb.path[0],) * 4 + (emb.path[5],) * 4
    cols = m.columns()
    assert list(cols)[:6] == ["query", "query_path", "query_offset", "rank", "row", "distance"] and "label" in cols


def test_query_audio_embedded_apart_finds_its_own_file(emb):
    files = sorted(p for p in emb.path if p.endswith(("low_1.wav", "noise_2.wav")))   # the chirps "up" are all alike
    query = audioclust.embed(files, encoder="speech")
    m = audioclust.search(emb, query, n=3)
    first = m.rank == 1
    assert list(np.asarray(m.path)[first]) == files and (m.distance[first] < 1e-3).all()
    assert m.query_path[:1] == (files[0],)


def test_vectors_and_a_prebuilt_index(emb):
    index = Index.build(emb.vectors, space="cosine")
    m = audioclust.search(emb.vectors, emb.vectors[[3, 4]], n=2, index=index)
    assert m.row[m.rank == 1].tolist() == [3, 4] and m.path == () and m.query_path == ()


def test_bad_queries_are_one_clear_error(emb):
    with pytest.raises(ConfigError, match="query rows must be between 0 and 11"):
        audioclust.search(emb, [12])
    with pytest.raises(ConfigError, match="n must be an integer"):
        audioclust.search(emb, [0], n=0)
    with pytest.raises(ConfigError, match="no query"):
        audioclust.search(emb, [])
    with pytest.raises(ConfigError, match="index has 3 rows"):
        audioclust.search(emb, [0], index=Index.build(emb.vectors[:3]))
    other = audioclust.Embeddings(emb.path[:1], emb.offset[:1], emb.duration[:1], emb.vectors[:1], "speaker")
    with pytest.raises(ConfigError, match="query embedded with speaker, the set with speech"):
        audioclust.search(emb, other)


def test_the_command_searches_a_fit(emb, tmp_path):
    """audioclust-search on a fit's outputs (write_outputs writes what audioclust-cluster's fit writes)."""
    import csv

    from common_utils.scripts import run_script

    fit = audioclust.write_outputs(audioclust.cluster(emb, k=3), emb, tmp_path / "fit")
    name = next(p for p in emb.path if p.endswith("low_1.wav"))
    cli = ("-c", "from audioclust.cli import search; search()", f"fit_dir={fit}", f"hydra.run.dir={tmp_path / 'out'}")
    p = run_script(*cli, f"query.path={name.rsplit('/', 1)[1]}", "n=3")
    assert p.returncode == 0, p.stderr[-2000:]
    with open(tmp_path / "out" / "neighbours.csv", newline="") as f:
        found = list(csv.DictReader(f))
    assert [r["rank"] for r in found] == ["1", "2", "3"] and name not in [r["path"] for r in found]
    expected = audioclust.search(emb, [emb.path.index(name)], n=3)
    assert [r["path"] for r in found] == list(expected.path) and f"to {name} at 0.000 s" in p.stdout
    p = run_script(*cli, "query.cluster=0", "n=2")
    assert p.returncode == 0 and "cluster 0 (the mean of its" in p.stdout, p.stderr[-2000:]
    p = run_script(*cli, "query.path=nowhere.wav")
    assert p.returncode == 2 and p.stderr.strip() == "error: query.path=nowhere.wav: not a file of this fit (assignments.csv)"


@pytest.mark.slow
def test_the_command_searches_a_fit_by_new_audio(tmp_path):
    """query.audio: a file the fit never saw, embedded as the fit's rows were (its encoder and windowing): a copy of
    one of the fit's clips finds that clip first, at distance ~0, then clips of its kind."""
    import csv
    import shutil

    from common_utils.scripts import run_script

    pytest.importorskip("openwakeword", reason="encoder=speech needs its extra: pip install 'audioclust[speech]'")
    folder = write_tone_folder(tmp_path)
    p = run_script("cluster.py", "encoder=speech", f"data.root={folder}", "kmeans.k=3", "wandb.enabled=false",
                   "report.explorer=false", "report.plots=false", f"store.dir={tmp_path}/store", f"hydra.run.dir={tmp_path}/fit")
    assert p.returncode == 0, p.stderr[-2000:]
    src = folder / "low" / "low_2.wav"   # each low tone has its own pitch (the chirps are all alike)
    (tmp_path / "new").mkdir()
    shutil.copy(src, tmp_path / "new" / "query.wav")
    p = run_script("-c", "from audioclust.cli import search; search()", f"fit_dir={tmp_path}/fit", "n=3",
                   f"query.audio={tmp_path}/new/query.wav", f"store_dir={tmp_path}/store", f"hydra.run.dir={tmp_path}/out")
    assert p.returncode == 0, p.stderr[-2000:]
    with open(tmp_path / "out" / "neighbours.csv", newline="") as f:
        found = list(csv.DictReader(f))
    assert found[0]["path"] == str(src) and float(found[0]["distance"]) < 1e-3
    assert all("/low/" in r["path"] for r in found)
    p = run_script("-c", "from audioclust.cli import search; search()", f"fit_dir={tmp_path}/fit", "query.audio=/nowhere.wav",
                   "query.cluster=0", f"hydra.run.dir={tmp_path}/out2")
    assert p.returncode == 2 and p.stderr.strip() == "error: give one query: query.audio, query.path or query.cluster"
