"""The embedding store (audioclust/embed/store.py): rows written once per encoder identity and clip, found by file
identity and offset, read in sample order (a row written twice read once), pruned; and through audioclust-cluster:
reuse, growth, resume after SIGKILL on 1 and 2 ranks, every clip exactly once."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT, chirp, noise, run_script, tone

from audioclust.embed.store import Keys, Store, describe, prune


def _folder(root, n, seconds=1.0):
    makers = [lambda i: tone(300 + 20 * i, seconds=seconds), lambda i: chirp(200, 4000, seconds=seconds),
              lambda i: noise(i, seconds=seconds)]
    for i in range(n):
        (root / f"k{i % 3}").mkdir(parents=True, exist_ok=True)
        sf.write(root / f"k{i % 3}" / f"c{i:03d}.wav", makers[i % 3](i), 16000)
    return root


def _index(root, offsets_per_file=(0.0,)):
    files = sorted(str(p) for p in root.rglob("*.wav"))
    fids = np.repeat(np.arange(len(files)), len(offsets_per_file))
    return SimpleNamespace(files=files, file_ids=fids, offsets=np.tile(np.asarray(offsets_per_file, float), len(files)))


def _outputs(sid, d=4):
    sid = np.asarray(sid)
    return {"embedding": (sid[:, None] * 10 + np.arange(d)).astype(np.float32), "ok": sid % 5 != 0,
            "power": sid.astype(np.float32) / 7}


def test_rows_found_by_file_and_offset_and_read_once_in_sample_order(tmp_path):
    keys = Keys.of(_index(_folder(tmp_path / "a", 6), (0.0, 0.5)))
    store = Store(tmp_path / "store", "x", {"encoder": {"adapter": "test"}, "sr": 16000})
    store.open()
    assert not store.lookup(keys).present.any()
    store.write_part(keys, [0, 1, 2, 3], _outputs([0, 1, 2, 3]), rank=0)
    store.write_part(keys, [3, 4, 5, 11], _outputs([3, 4, 5, 11]), rank=1)   # 3 again: a sampler's padding
    found = store.lookup(keys)
    assert found.present.tolist() == [True] * 6 + [False] * 5 + [True] and found.missing.tolist() == [6, 7, 8, 9, 10]
    assert store.rows_by_rank(store.parts()) == {0: 4, 1: 4}
    store.write_part(keys, found.missing, _outputs(found.missing), rank=0)
    emb = store.read(store.lookup(keys), tmp_path / "out", sample_ids=[11, 0, 3])
    assert isinstance(emb["embedding"], np.memmap) and emb["sample_id"].tolist() == [11, 0, 3]
    for k, v in _outputs([11, 0, 3]).items():
        np.testing.assert_array_equal(emb[k], v)
    whole = store.read(store.lookup(keys), tmp_path / "all")
    np.testing.assert_array_equal(whole["embedding"], _outputs(np.arange(12))["embedding"])
    assert not list((tmp_path / "all").glob(".*"))   # no temp file left
    # plain Parquet: readable without audioclust
    pq = pytest.importorskip("pyarrow.parquet")
    t = pq.read_table(store.dir)
    assert t.num_rows == 13 and {"path", "size", "mtime_ns", "file", "offset", "vector", "ok", "power"} <= set(t.column_names)
    assert json.loads((store.dir / "_identity.json").read_text())["encoder"] == {"adapter": "test"}
    duckdb = pytest.importorskip("duckdb")
    n, dim = duckdb.sql(f"SELECT count(DISTINCT (file, offset_us)), max(len(vector)) FROM '{store.dir}/*.parquet'").fetchall()[0]
    assert (n, dim) == (12, 4)


def test_another_identity_or_a_changed_file_finds_nothing_a_moved_file_keeps_content_rows(tmp_path):
    root = _folder(tmp_path / "a", 3)
    ident = {"encoder": {"adapter": "test", "version": 1}, "sr": 16000}
    for how in ("stat", "content"):
        keys = Keys.of(_index(root), how)
        store = Store(tmp_path / "store", "x", ident, hash=how)
        store.open()
        store.write_part(keys, [0, 1, 2], _outputs([0, 1, 2]))
        assert store.lookup(keys).present.all()
        assert not Store(tmp_path / "store", "x", {**ident, "encoder": {"adapter": "test", "version": 2}},
                         hash=how).lookup(keys).present.any()   # a new adapter version never reuses old rows
    changed = sorted(root.rglob("*.wav"))[1]
    sf.write(changed, noise(99, seconds=1.2), 16000)   # another size and time
    stat_store = Store(tmp_path / "store", "x", ident)
    assert stat_store.lookup(Keys.of(_index(root))).present.tolist() == [True, False, True]
    moved = tmp_path / "moved"
    os.rename(root, moved)
    content = Store(tmp_path / "store", "x", ident, hash="content")
    assert content.lookup(Keys.of(_index(moved), "content")).present.tolist() == [True, False, True]
    assert not stat_store.lookup(Keys.of(_index(moved))).present.any()


def test_prune_drops_rows_of_files_gone_or_changed_and_old_partitions(tmp_path):
    root = _folder(tmp_path / "a", 4)
    keys = Keys.of(_index(root))
    store = Store(tmp_path / "store", "x", {"encoder": {"adapter": "test"}})
    store.open()
    store.write_part(keys, [0, 1], _outputs([0, 1]))
    store.write_part(keys, [2, 3], _outputs([2, 3]))
    files = sorted(root.rglob("*.wav"))
    files[0].unlink()
    sf.write(files[3], noise(5, seconds=2.0), 16000)
    assert describe(tmp_path / "store")[0]["rows"] == 4
    removed = prune(tmp_path / "store")
    assert removed["rows"] == 2 and removed["partitions"] == 0
    left = describe(tmp_path / "store")[0]
    assert left["rows"] == 2 and left["files"] == 2
    assert Store(tmp_path / "store", "x", {"encoder": {"adapter": "test"}}).lookup(Keys.of(_index(root))).present.tolist() == [True, True, False]
    assert prune(tmp_path / "store", gone=False, older_than_days=-1)["partitions"] == 1 and not describe(tmp_path / "store")


# ---------------------------------------------------------------- through audioclust-cluster

COMMON = ["report.plots=false", "report.explorer=false", "wandb.enabled=false", "kmeans.k=3", "threads=1",
          "data.batch_size=4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    clips = _folder(tmp / "clips", 13)   # 13 clips: not divisible by 2 ranks
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={clips}", "data.max_files=null",
                   "trainer.max_epochs=1", "threads=1", f"paths.cache_dir={tmp}/cache", f"hydra.run.dir={tmp}/run")
    assert p.returncode == 0, p.stderr[-3000:]
    return tmp, clips, tmp / "run"


def _cluster(run_dir, out, store, *args):
    p = run_script("cluster.py", f"run_dir={run_dir}", f"hydra.run.dir={out}", f"store.dir={store}", *COMMON, *args)
    errors = [line for line in p.stderr.splitlines() if "Error" in line or "rank" in line.lower()]   # each rank's
    assert p.returncode == 0, "\n".join(errors[-40:]) + "\n" + p.stderr[-3000:]
    return p.stdout, json.loads((out / "embed" / "rows.json").read_text())


def _paths(out):
    with open(out / "assignments.csv", newline="") as f:
        return sorted(r["path"] for r in csv.DictReader(f))


@pytest.mark.slow
def test_a_second_run_embeds_nothing_new_files_only_them(run, tmp_path):
    tmp, _, run_dir = run
    clips = _folder(tmp_path / "clips", 9)
    store = tmp_path / "store"
    _, info = _cluster(run_dir, tmp_path / "one", store, f"input={clips}")
    assert info["embedded"] == 9 and info["reused"] == 0
    out, info = _cluster(run_dir, tmp_path / "two", store, f"input={clips}", "kmeans.k=2", "reduce.method=pca")
    assert "embedding: 0 windows embedded, 9 reused from the store" in out and info["embedded"] == 0
    assert (tmp_path / "one" / "embeddings.npy").read_bytes() == (tmp_path / "two" / "embeddings.npy").read_bytes()
    # grow: two new files, one changed, one removed
    extra = _folder(tmp_path / "extra", 11)
    for name in ("k0/c009.wav", "k1/c010.wav"):
        os.replace(extra / name, clips / name)
    sf.write(clips / "k2" / "c002.wav", noise(42), 16000)
    (clips / "k1" / "c001.wav").unlink()
    out, info = _cluster(run_dir, tmp_path / "three", store, f"input={clips}")
    assert info["embedded"] == 3 and info["reused"] == 7
    assert _paths(tmp_path / "three") == sorted(str(p) for p in clips.rglob("*.wav"))   # the removed one left the run
    # the same rows as a run from an empty store
    _cluster(run_dir, tmp_path / "fresh", tmp_path / "store2", f"input={clips}")
    assert (tmp_path / "three" / "embeddings.npy").read_bytes() == (tmp_path / "fresh" / "embeddings.npy").read_bytes()


def _killed(args, store, rows_at_least, timeout=600):
    """cluster.py started, SIGKILLed (its whole process group: every rank) once the store holds that many rows."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "cluster.py", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < timeout:
            if sum(_rows(part) for part in store.glob("*/part-*.parquet")) >= rows_at_least:
                break
            if p.poll() is not None:
                raise AssertionError("cluster.py ended before it was killed")
            time.sleep(0.05)
        os.killpg(p.pid, signal.SIGKILL)
    finally:
        p.wait()
    return sum(_rows(part) for part in store.glob("*/part-*.parquet"))


def _rows(part):
    import pyarrow.parquet as pq

    return pq.read_metadata(part).num_rows


@pytest.mark.slow
@pytest.mark.parametrize("ranks, kill_at", [(1, 2), (1, 13), (2, 2)])
def test_a_killed_run_embeds_only_what_is_missing_and_ends_as_an_uninterrupted_one(run, tmp_path, ranks, kill_at):
    """SIGKILL once the store holds kill_at rows (2: early in the embedding; 13: every row, the run then clustering)."""
    tmp, clips, run_dir = run
    store = tmp_path / "store"
    ddp = ["embed.devices=2", "embed.strategy=ddp"] if ranks == 2 else []
    args = [f"run_dir={run_dir}", f"store.dir={store}", "store.flush_rows=2", *COMMON, "data.batch_size=1", *ddp]
    written = _killed([*args, f"hydra.run.dir={tmp_path}/killed"], store, rows_at_least=kill_at)
    assert kill_at <= written
    out, info = _cluster(run_dir, tmp_path / "again", store, "store.flush_rows=2", "data.batch_size=1", *ddp)
    distinct = 13 - info["embedded"]
    said = (info, written, out[-1500:])   # (this test failed once under -n 2 with its cause not kept: say it next time)
    assert info["reused"] == distinct and 0 < distinct <= written, said   # what the killed run had written, once each
    if ranks == 2:
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out or info["embedded"] == 0, said
    _cluster(run_dir, tmp_path / "whole", tmp_path / "store2", "data.batch_size=1")
    again, whole = np.load(tmp_path / "again" / "embeddings.npy"), np.load(tmp_path / "whole" / "embeddings.npy")
    np.testing.assert_array_equal(again, whole, err_msg=f"rows differing: {np.flatnonzero((again != whole).any(1))}; {said}")
    assert _paths(tmp_path / "again") == sorted(str(p) for p in clips.rglob("*.wav"))


@pytest.mark.slow
def test_two_ddp_ranks_embed_every_clip_exactly_once(run, tmp_path):
    tmp, clips, run_dir = run
    p = run_script("cluster.py", f"run_dir={run_dir}", f"hydra.run.dir={tmp_path}/ddp", f"store.dir={tmp_path}/store",
                   "embed.devices=2", "embed.strategy=ddp", *COMMON)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in p.stdout + p.stderr
    info = json.loads((tmp_path / "ddp" / "embed" / "rows.json").read_text())
    assert info["embedded"] == 13 and sorted(info["rows_by_rank"]) == ["0", "1"] and min(info["rows_by_rank"].values()) > 0
    np.testing.assert_array_equal(np.load(tmp_path / "ddp" / "embed" / "sample_id.npy"), np.arange(13))
    assert _paths(tmp_path / "ddp") == sorted(str(p) for p in clips.rglob("*.wav"))   # each clip once
    _cluster(run_dir, tmp_path / "one", tmp_path / "store1")
    np.testing.assert_allclose(np.load(tmp_path / "ddp" / "embeddings.npy"), np.load(tmp_path / "one" / "embeddings.npy"),
                               rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob("**/*ddp_process_1*"))   # no per-rank output dirs


@pytest.mark.slow
def test_fewer_missing_windows_than_ranks_are_embedded_by_every_rank(run, tmp_path):
    """One new clip in a stored folder, embedded on 2 ranks: Lightning's predict sampler gives a rank no sample
    and stops the run (its assert), so the one missing window goes to both ranks, written twice and read once. (A
    killed 2-rank run that had written 12 of 13 rows failed so when resumed.)"""
    tmp, _, run_dir = run
    clips = _folder(tmp_path / "clips", 4)
    store, ddp = tmp_path / "store", ["embed.devices=2", "embed.strategy=ddp", "kmeans.k=2"]
    _cluster(run_dir, tmp_path / "one", store, f"input={clips}", "kmeans.k=2")
    os.replace(_folder(tmp_path / "extra", 5) / "k1" / "c004.wav", clips / "k1" / "c004.wav")
    out, info = _cluster(run_dir, tmp_path / "two", store, f"input={clips}", *ddp)
    assert info["embedded"] == 1 and info["reused"] == 4 and info["rows_by_rank"] == {"0": 1, "1": 1}, info
    assert "embedding: 1 windows embedded, 4 reused from the store" in out
    _cluster(run_dir, tmp_path / "fresh", tmp_path / "store2", f"input={clips}", "kmeans.k=2")
    assert (tmp_path / "two" / "embeddings.npy").read_bytes() == (tmp_path / "fresh" / "embeddings.npy").read_bytes()
    assert _paths(tmp_path / "two") == sorted(str(p) for p in clips.rglob("*.wav"))


@pytest.mark.slow
def test_a_launched_rank_1_with_nothing_to_embed_leaves_the_run_to_rank_0(run, tmp_path):
    """srun and torchrun start every rank. When the store holds every row none of them predicts, so no Lightning
    rank is set: rank 1 of a distributed embed knows itself by the launcher's environment, writes nothing and exits
    (it clustered and wrote the run's outputs beside rank 0 before)."""
    _, _, run_dir = run
    _cluster(run_dir, tmp_path / "zero", tmp_path / "store")
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0", RANK="1", LOCAL_RANK="1", WORLD_SIZE="2")

    def launched(name, *args):
        p = subprocess.run([sys.executable, "cluster.py", f"run_dir={run_dir}", f"hydra.run.dir={tmp_path / name}",
                            f"store.dir={tmp_path / 'store'}", *COMMON, *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        return tmp_path / name

    one = launched("one", "embed.devices=2", "embed.strategy=ddp")
    assert (tmp_path / "zero" / "assignments.csv").is_file() and not (one / "assignments.csv").exists()
    assert not (one / "embed" / "rows.json").exists()
    # one process (embed.devices=1, as encoder=auto embeds its candidates on every rank) is rank 0 whatever the
    # environment says: a shell's stray RANK does not leave a plain run without outputs
    assert (launched("plain") / "assignments.csv").is_file()


def test_the_store_command_lists_and_prunes(tmp_path):
    root = _folder(tmp_path / "a", 2)
    store = Store(tmp_path / "store", "speech", {"encoder": {"adapter": "test"}})
    store.open()
    store.write_part(Keys.of(_index(root)), [0, 1], _outputs([0, 1]))
    sorted(root.rglob("*.wav"))[0].unlink()
    cmd = [sys.executable, "-c", "from audioclust.cli import store; store()", f"dir={tmp_path / 'store'}",
           f"hydra.run.dir={tmp_path / 'log'}"]
    p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "speech" in p.stdout and "1 partitions, 2 rows" in p.stdout and not p.stderr
    p = subprocess.run([*cmd, "action=prune"], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0 and "pruned 1 rows and 0 partitions" in p.stdout and "1 partitions, 1 rows" in p.stdout
    p = subprocess.run([*cmd, "action=nope"], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("rank", [0, 1])
def test_a_mix_predicts_every_member_before_rank_0_reads_any(monkeypatch, tmp_path, rank):
    """encoder=mix through stores: each member's predict (on every rank) comes before rank 0 copies any member's
    rows, so no rank waits at the next member's predict while rank 0 reads (a long copy would outlast the process
    group's timeout); a non-zero rank takes part in every predict and returns None."""
    from audioclust.embed import inference

    calls = []

    def predicted(model, dm, store, *args, **kwargs):
        calls.append(("predict", model))
        return SimpleNamespace(model=model, rank=rank)

    def read(done, out_dir):
        calls.append(("read", done.model))
        if done.rank:
            return None
        (out_dir / "embedding.npy").parent.mkdir(parents=True, exist_ok=True)
        (out_dir / "rows.json").write_text(json.dumps({"embedded": 2, "reused": 1, "store_bytes": 5}))
        return {"sample_id": np.arange(3), "ok": np.ones(3, bool), "power": np.ones(3, np.float32),
                "embedding": np.full((3, 1), float(done.model == "b"), np.float32)}

    monkeypatch.setattr(inference, "predict_missing", predicted)
    monkeypatch.setattr(inference, "stored_rows", read)
    members = [(name, name, SimpleNamespace(sr=16000), object()) for name in ("a", "b")]
    got = inference.embed_members(members, out_dir=tmp_path)
    assert calls[:2] == [("predict", "a"), ("predict", "b")]
    if rank:
        assert got is None
        return
    assert calls[2:] == [("read", "a"), ("read", "b")]
    np.testing.assert_array_equal(got["embedding"], [[0, 1]] * 3)
    assert json.loads((tmp_path / "rows.json").read_text())["embedded"] == 4
