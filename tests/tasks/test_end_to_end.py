"""train.py then cluster.py (fit and assign) as a user runs them, on a small synthetic set."""
import csv
import glob
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from common_utils import run_script, tone
from common_utils.wandb_records import read_run

pytestmark = pytest.mark.slow
N_PER_CLASS = 5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    run = tmp / "run"
    p = run_script("train.py", "debug=default", "logger=wandb", f"paths.cache_dir={tmp}/cache",
                   f"data.synthetic.n_per_class={N_PER_CLASS}", "data.max_files=null", "trainer.max_epochs=3",
                   f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "it/s]" not in p.stdout + p.stderr  # progress=auto: no bars when output is not a terminal
    _quiet(p, run / "debug.log")
    return tmp, run


def _quiet(p, log_file):
    """The screen shows progress, decisions and results: no library tips, warnings or tracebacks (they stay in the
    run's log file)."""
    screen = p.stdout + p.stderr
    for noise in ("litlogger", "Tip:", "Warning", "wandb: WARNING", "warn(", "deprecated", "Traceback", "faiss.loader"):
        assert noise not in screen, f"{noise!r} on the screen:\n{screen[-3000:]}"
    assert log_file.is_file()


@pytest.fixture(scope="module")
def fitted(trained):
    tmp, run = trained
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit/a", "kmeans.k=20", "export.raven=true",
                   "export.audacity=true", "export.folders=true")
    assert p.returncode == 0, p.stderr[-3000:]
    _quiet(p, run / "fit" / "a" / "cluster.log")
    return run / "fit" / "a", p.stdout


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_model_checkpoints_and_wandb_run(trained):
    _, run = trained
    assert (run / "model.pt").is_file() and (run / "run_config.yaml").is_file()
    assert (run / "checkpoints" / "last.ckpt").is_file()
    state = torch.load(run / "model.pt", weights_only=True)
    assert state["embedding_dim"] > 0 and any(k.startswith("net.encoder") for k in state["state_dict"])
    (wrun,) = glob.glob(f"{run}/wandb/offline-run-*")
    rec = read_run(wrun)
    assert len(rec["history"]["val/loss"]) == 3 and all(np.isfinite(rec["history"]["val/loss"]))
    assert "train/loss_epoch" in rec["history"] and rec["config"]["seed"] == 0
    assert rec["kinds"].get("exit") == 1  # the run was finished


def test_model_artifact_logged_and_named_by_the_clusters_artifact(trained, fitted):
    _, run = trained
    (wrun,) = glob.glob(f"{run}/wandb/offline-run-*")
    run_id = wrun.rsplit("-", 1)[1]
    (model,) = [a for a in read_run(wrun)["artifacts"] if a["type"] == "model"]
    info = json.loads((run / "model_artifact.json").read_text())
    assert model["name"] == info["name"] == f"model-{run_id}"
    assert Path(model["files"]["model.pt"]).read_bytes() == (run / "model.pt").read_bytes()
    assert info["sha256"] == hashlib.sha256((run / "model.pt").read_bytes()).hexdigest()
    out, _ = fitted
    (clusters,) = [a for a in read_run(glob.glob(f"{out}/wandb/offline-run-*")[0])["artifacts"]
                   if a["type"] == "clusters"]
    assert clusters["metadata"]["model_artifact"] == info  # offline: lineage by name + hash (use_artifact online)


def test_train_draws_and_logs_reconstructions(trained):
    _, run = trained
    pngs = sorted(p.name for p in (run / "reconstructions").glob("*.png"))
    assert pngs == ["epoch_002.png"]  # every 5 epochs and after the last one (3 epochs)
    assert (run / "reconstructions" / pngs[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rec = read_run(glob.glob(f"{run}/wandb/offline-run-*")[0])
    hist = rec["history"]
    assert hist["val/reconstructions/_type"] == ["images/separated"] and hist["val/reconstructions/count"] == [1]
    (logged,) = glob.glob(f"{run}/wandb/offline-run-*/files/{hist['val/reconstructions/filenames'][0][0]}")
    assert Path(logged).read_bytes() == (run / "reconstructions" / pngs[0]).read_bytes()


def test_fit_accounts_for_every_clip(trained, fitted):
    tmp, _ = trained
    out, stdout = fitted
    wavs = sorted(glob.glob(f"{tmp}/cache/synthetic/*/*/*.wav"))
    rows = _rows(out / "assignments.csv")
    assert len(wavs) == 20 * N_PER_CLASS and sorted(r["path"] for r in rows) == wavs
    assert _rows(out / "skipped.csv") == []
    assert {int(r["cluster"]) for r in rows} <= set(range(20)) and all(float(r["distance"]) >= 0 for r in rows)
    assert rows[0]["label"] == Path(rows[0]["path"]).parent.name
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_clips"] == len(wavs) and m["k"] == 20 and sum(m["cluster_sizes"]) == len(wavs)
    assert 0 <= m["acc"] <= 1 and 0 <= m["nmi"] <= 1 and -1 <= m["silhouette"] <= 1
    assert m["acc"] > 0.2 and m["nmi"] > 0.4  # chance on 20 balanced classes: ACC ~0.1, NMI ~0.2
    # the generated classes are folders: the clusters against the folder score as against the labels
    assert m["by"]["folder"]["n_groups"] == 20 and m["by"]["folder"]["ami"] == pytest.approx(m["ami"])
    assert "file" not in m["by"]   # one row per file
    emb, cen = np.load(out / "embeddings.npy"), np.load(out / "centroids.npy")
    assert emb.shape[0] == len(wavs) and cen.shape == (20, 10)   # in the reduced space: UMAP, 10-d, by default
    for png in ("map.png", "sizes.png", "montage.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ACC" in stdout and str(out) in stdout


def test_fit_exports_raven_audacity_and_cluster_folders(fitted):
    out, stdout = fitted
    rows = _rows(out / "assignments.csv")
    table = (out / "exports" / "raven" / "all.Table.1.selections.txt").read_text().splitlines()
    header = table[0].split("\t")
    assert header[:7] == ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)", "Low Freq (Hz)",
                          "High Freq (Hz)"] and "Cluster" in header and len(table) == 1 + len(rows)
    by_file = {(r["path"], float(r["offset"])): int(r["cluster"]) for r in rows}
    for line in table[1:]:
        rec = dict(zip(header, line.split("\t")))
        assert by_file[(rec["Begin Path"], float(rec["File Offset (s)"]))] == int(rec["Cluster"])
    assert len(list((out / "exports" / "raven").glob("*.Table.1.selections.txt"))) == 1 + len(rows)  # 1 clip per file
    labels = list((out / "exports" / "audacity").glob("*.labels.txt"))
    assert len(labels) == len(rows) and labels[0].read_text().count("\t") == 2
    linked = list((out / "exports" / "clusters").rglob("*.wav"))
    assert len(linked) == len(rows) and all(p.is_symlink() and p.resolve().is_file() for p in linked)
    assert "exports:" in stdout


def test_fit_logs_to_wandb_offline(trained, fitted):
    out, _ = fitted
    (wrun,) = glob.glob(f"{out}/wandb/offline-run-*")
    rec = read_run(wrun)
    (train_run,) = glob.glob(f"{trained[1]}/wandb/offline-run-*")
    assert rec["run"]["group"] == read_run(train_run)["run"]["group"] == "run"   # found together in the W&B UI
    m = json.loads((out / "metrics.json").read_text())
    assert rec["history"]["cluster/nmi"][-1] == pytest.approx(m["nmi"])
    assert rec["history"]["cluster/acc"][-1] == pytest.approx(m["acc"]) and rec["kinds"].get("exit") == 1


def test_fit_logs_map_clip_table_and_clusters_artifact(fitted):
    out, _ = fitted
    rec = read_run(glob.glob(f"{out}/wandb/offline-run-*")[0])
    rows = {r["path"]: r for r in _rows(out / "assignments.csv")}
    assert rec["history"]["cluster/map_scatter_table/nrows"] == [len(rows)]
    arts = {a["type"]: a for a in rec["artifacts"] if a["type"] == "clusters"}
    assert {"assignments.csv", "centroids.npy", "metrics.json"} <= set(arts["clusters"]["files"])
    staged = arts["clusters"]["files"]["centroids.npy"]
    assert np.array_equal(np.load(staged), np.load(out / "centroids.npy"))
    (clips,) = [a for a in rec["artifacts"] if "cluster/clips.table.json" in a["files"]]
    table = json.loads(Path(clips["files"]["cluster/clips.table.json"]).read_text())
    col = {c: i for i, c in enumerate(table["columns"])}
    assert len(table["data"]) == min(len(rows), 200) == rec["history"]["cluster/clips/nrows"][0]
    for row in table["data"]:  # every row: the clip's cluster and distance, its audio and spectrogram files
        ref = rows[row[col["path"]]]
        assert row[col["cluster"]] == int(ref["cluster"]) and row[col["distance"]] == pytest.approx(float(ref["distance"]))
        audio, image = row[col["audio"]], row[col["spectrogram"]]
        assert audio["_type"] == "audio-file" and image["_type"] == "image-file"
        x, sr = sf.read(clips["files"][audio["path"]])
        assert sr == 16000 and len(x) == 16000 and np.abs(x).max() > 0.01  # the decoded clip, not silence
        assert Path(clips["files"][image["path"]]).read_bytes()[:4] == b"\x89PNG"


def test_cluster_multirun_one_wandb_group_every_run_finished(trained, tmp_path):
    _, run = trained
    p = run_script("cluster.py", "-m", f"run_dir={run}", "kmeans.k=4,8", "report.plots=false", "report.explorer=false",
                   "wandb.max_table_rows=5", f"hydra.sweep.dir={tmp_path}/sweep")
    assert p.returncode == 0, p.stderr[-3000:]
    records = [read_run(r) for r in sorted(glob.glob(f"{tmp_path}/sweep/*/wandb/offline-run-*"))]
    assert [r["history"]["cluster/k"] for r in records] == [[4], [8]]
    # every run of the sweep in the training run's group (its run dir's name), each finished
    assert {(r["run"]["group"], r["run"]["job_type"]) for r in records} == {("run", "fit")}
    assert all(r["kinds"].get("exit") == 1 and r["history"]["cluster/clips/nrows"] == [5] for r in records)


def test_assign_new_audio_to_fitted_clusters(trained, fitted, tmp_path):
    tmp, run = trained
    out, _ = fitted
    fit_rows = {Path(r["path"]).name: r for r in _rows(out / "assignments.csv")}
    picked = sorted(glob.glob(f"{tmp}/cache/synthetic/*/*/*_001.wav"))[:8]
    for src in picked:  # known clips, re-encoded as FLAC at another rate: the same sound
        x, sr = sf.read(src)
        sf.write(tmp_path / Path(src).name.replace(".wav", ".flac"), x, sr)
    sf.write(tmp_path / "tone.wav", tone(220, sr=22050), 22050)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt junk")
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"input={tmp_path}", f"clusters_dir={out}",
                   f"hydra.run.dir={tmp_path}/assign_out", "report.plots=false", "wandb.enabled=false")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(tmp_path / "assign_out" / "assignments.csv")
    assert list(rows[0]) == list(_rows(out / "assignments.csv")[0])  # same CSV format
    assert len(rows) == len(picked) + 1 and all(0 <= int(r["cluster"]) < 20 for r in rows)
    skipped = _rows(tmp_path / "assign_out" / "skipped.csv")
    assert [Path(s["path"]).name for s in skipped] == ["broken.wav"] and skipped[0]["reason"]
    for r in rows:  # a clip seen at fit time lands in the same cluster at the same distance
        name = Path(r["path"]).name.replace(".flac", ".wav")
        if name in fit_rows:
            assert r["cluster"] == fit_rows[name]["cluster"]
            assert float(r["distance"]) == pytest.approx(float(fit_rows[name]["distance"]), abs=1e-3)


def _fails_clearly(p, *needles):
    assert p.returncode != 0
    text = p.stdout + p.stderr
    assert "Traceback" not in text, text[-2000:]
    for n in needles:
        assert n in text, text[-2000:]


def test_clear_errors(trained, tmp_path):
    tmp, run = trained
    _fails_clearly(run_script("cluster.py", f"run_dir={run}", "kmeans.k=1000", f"hydra.run.dir={tmp_path}/a"),
                   "kmeans.k=1000 is larger than the number of clips")
    _fails_clearly(run_script("train.py", "data=folder", f"data.root={tmp_path}/missing", f"hydra.run.dir={tmp_path}/b"),
                   "data root does not exist")
    (tmp_path / "empty").mkdir()
    _fails_clearly(run_script("train.py", "data=folder", f"data.root={tmp_path}/empty", f"hydra.run.dir={tmp_path}/c"),
                   "no audio files found")
    _fails_clearly(run_script("train.py", "model.no_such_option=3", f"hydra.run.dir={tmp_path}/d"),
                   "no_such_option")
    _fails_clearly(run_script("cluster.py", f"run_dir={tmp_path}", f"hydra.run.dir={tmp_path}/e"),
                   "not a finished train run")


def test_mismatched_and_unsafe_checkpoints_are_refused(trained, tmp_path):
    _, run = trained
    bad = tmp_path / "run"
    bad.mkdir()
    cfg = (run / "run_config.yaml").read_text().replace("code_channels: 4", "code_channels: 5")
    (bad / "run_config.yaml").write_text(cfg)
    (bad / "model.pt").write_bytes((run / "model.pt").read_bytes())
    _fails_clearly(run_script("cluster.py", f"run_dir={bad}", f"hydra.run.dir={tmp_path}/a"), "does not match")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": Evil()}, bad / "model.pt")
    p = run_script("cluster.py", f"run_dir={bad}", f"hydra.run.dir={tmp_path}/b")
    _fails_clearly(p, "refusing to load")
    assert "pwned" not in p.stdout


def test_rerun_resumes_from_last_checkpoint(trained, tmp_path):
    tmp, run = trained
    copy = tmp_path / "run"
    import shutil

    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("wandb", "fit"))
    p = run_script("train.py", "debug=default", f"paths.cache_dir={tmp}/cache", "logger=csv",
                   f"data.synthetic.n_per_class={N_PER_CLASS}", "data.max_files=null", "trainer.max_epochs=4",
                   f"hydra.run.dir={copy}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "resuming from" in (copy / "debug.log").read_text()  # the log is named after task_name
    with open(next(copy.glob("csv/*/metrics.csv")), newline="") as f:
        epochs = {r["epoch"] for r in csv.DictReader(f) if r.get("val/loss")}
    assert epochs == {"3"}  # only the one missing epoch was trained


def test_voice_groups_fit_then_assign_the_same_clips(trained, fitted, tmp_path):
    """voice.groups with a round of co-clustering: the groups, their statistics and the spectra's cluster means are
    stored with the clusters, so assigning the fitted clips again puts each in the same cluster at the same
    distance."""
    tmp, run = trained
    fit = tmp_path / "fit"
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={fit}", "kmeans.k=20", "voice.groups=3",
                   "voice.rounds=1", "report.plots=false", "wandb.enabled=false", "report.explorer=false")
    assert p.returncode == 0, p.stderr[-3000:]
    state = np.load(fit / "preprocess.npz")
    assert int(state["voice_groups"]) == 3 and state["voice_means"].shape[0] == 3 and int(state["voice_rounds"]) == 1
    assert state["voice_ltas_means"].shape[0] == 20 and state["voice_centroids"].shape[0] == 3
    keys = json.loads((fit / "embed" / "rows.json").read_text())["keys"]
    assert "voice" in keys                                       # the long-term spectra were computed ...
    assert "voice" not in json.loads((fitted[0] / "embed" / "rows.json").read_text())["keys"]  # ... only then
    picked = sorted(glob.glob(f"{tmp}/cache/synthetic/*/*/*_00[12].wav"))[:10]
    src = tmp_path / "again"
    src.mkdir()
    for f in picked:
        (src / Path(f).name).write_bytes(Path(f).read_bytes())
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"input={src}", f"clusters_dir={fit}",
                   f"hydra.run.dir={tmp_path}/assign_out", "report.plots=false", "wandb.enabled=false")
    assert p.returncode == 0, p.stderr[-3000:]
    fit_rows = {Path(r["path"]).name: r for r in _rows(fit / "assignments.csv")}
    rows = _rows(tmp_path / "assign_out" / "assignments.csv")
    assert len(rows) == len(picked)
    for r in rows:
        assert r["cluster"] == fit_rows[Path(r["path"]).name]["cluster"]
        assert float(r["distance"]) == pytest.approx(float(fit_rows[Path(r["path"]).name]["distance"]), abs=1e-3)


def test_hdbscan_fit_writes_noise_everywhere_then_assigns(trained, tmp_path):
    """cluster.method=hdbscan: k found, clips in no cluster are -1 in assignments.csv, metrics with and without
    noise, the explorer and the exports; mode=assign puts the fitted members back (nearest centroid in radius)."""
    tmp, run = trained
    fit = tmp_path / "fit"
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={fit}", "cluster.method=hdbscan",
                   "hdbscan.min_cluster_size=3", "reduce.method=pca", "export.raven=true", "wandb.max_table_rows=20")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(fit / "assignments.csv")
    m = json.loads((fit / "metrics.json").read_text())
    clusters = [int(r["cluster"]) for r in rows]
    assert len(rows) == 20 * N_PER_CLASS and set(clusters) <= set(range(-1, m["k"]))
    assert m["n_clusters"] == m["k"] == len(np.load(fit / "centroids.npy")) >= 2
    assert m["n_noise"] == clusters.count(-1) and m["noise_fraction"] == pytest.approx(m["n_noise"] / len(rows))
    assert sum(m["cluster_sizes"]) + m["n_noise"] == len(rows)
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels, c = [r["label"] for r in rows], np.array(clusters)   # the scores, recomputed from assignments.csv
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(labels, c))
    assert m["ari"] == pytest.approx(adjusted_rand_score(labels, c))
    kept = c >= 0
    assert m["ari_clustered"] == pytest.approx(adjusted_rand_score(np.array(labels)[kept], c[kept]))
    assert m["acc_clustered"] >= m["acc"] and -0.5 <= m["ari"] <= 1
    assert all(float(r["distance"]) >= 0 for r in rows)   # noise: the distance to the nearest centroid
    state = np.load(fit / "preprocess.npz", allow_pickle=False)
    assert str(state["cluster_method"]) == "hdbscan" and state["cluster_radius"].shape == (m["k"],)
    page = (fit / "explorer.html").read_text()
    assert f'"k":{m["k"]},"noise":{m["n_noise"]}' in page
    table = (fit / "exports" / "raven" / "all.Table.1.selections.txt").read_text().splitlines()
    col = table[0].split("\t").index("Annotation")
    assert len(table) == 1 + len(rows) and sum(line.split("\t")[col] == "noise" for line in table) == m["n_noise"]
    rec = read_run(glob.glob(f"{fit}/wandb/offline-run-*")[0])
    assert rec["history"]["cluster/noise_fraction"][-1] == pytest.approx(m["noise_fraction"])
    assert "noise" in p.stdout or m["n_noise"] == 0

    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"clusters_dir={fit}",
                   f"hydra.run.dir={tmp_path}/assign", "report.plots=false", "wandb.enabled=false")
    assert p.returncode == 0, p.stderr[-3000:]
    again = {(r["path"], r["offset"]): int(r["cluster"]) for r in _rows(tmp_path / "assign" / "assignments.csv")}
    members = [(r["path"], r["offset"]) for r in rows if int(r["cluster"]) >= 0]
    back = sum(again[key] == int(r["cluster"]) for key, r in zip(members, [r for r in rows if int(r["cluster"]) >= 0]))
    assert back >= 0.8 * len(members)   # the rest: nearer another cluster's centroid (HDBSCAN clusters need not be round)
    assert "noise_fraction" in json.loads((tmp_path / "assign" / "metrics.json").read_text())

    _fails_clearly(run_script("cluster.py", f"run_dir={run}", "cluster.method=hdbscan", "kmeans.k=5",
                              f"hydra.run.dir={tmp_path}/bad"), "hdbscan finds the number of clusters itself")
