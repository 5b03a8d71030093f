"""data=folder looks at whole clips (issue 14): the clip length comes from the folder's own durations and is printed
and recorded; files longer than it are cut into windows (one row per window), never cropped; cluster.py's
mode=assign cuts new audio as the fit did."""
import csv
import json

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT, run_script, tone
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from audioclust.data.datamodule import AudioDataModule
from audioclust.data.windowing import Windowing
from audioclust.tasks.builders import FIT_SCHEMA, RUN_SCHEMA, make_datamodule
from audioclust.tasks.cluster import fitted_window

SR = 8000
SHORT = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]   # seconds; and one 3 s file
CLIP = 1.3   # the 90th percentile of the 10 durations (1.29) rounded up to 0.1 s
SMALL = ["data.sr=8000", "frontend.n_fft=256", "frontend.block_size=[64,16]"]


def _mixed(root):
    for i, d in enumerate(SHORT):
        (root / f"k{i % 2}").mkdir(parents=True, exist_ok=True)
        sf.write(root / f"k{i % 2}" / f"c{i}.wav", tone(300 + 400 * (i % 2), sr=SR, seconds=d), SR)
    sf.write(root / "k0" / "long.wav", tone(300, sr=SR, seconds=3.0), SR)
    return root


def _compose(name, overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(name, overrides)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_folder_default_reads_every_file_to_its_end_and_pools_it_into_one_row(tmp_path, capsys):
    from audioclust.tasks.train import build

    root = _mixed(tmp_path / "clips")
    cfg = _compose("train", ["data=folder", f"data.root={root}", f"paths.cache_dir={tmp_path}/cache", *SMALL])
    assert (cfg.data.clip_seconds, cfg.data.hop_seconds, cfg.data.pool_windows_up_to) == (1.0, "auto", 30.0)
    dm, model = build(cfg)
    out = capsys.readouterr().out
    assert ("clip length: 1 s\n2 of 10 files are longer than 1 s (up to 3.00 s): cut into windows every 1 s; a file "
            "up to 30 s is one row (its windows' embeddings pooled, weighted by signal power)\n") in out
    assert cfg.data.hop_seconds == 1.0   # recorded as a number: run_config.yaml, every later cluster.py run
    dm.setup()
    idx = dm.index
    assert sorted(idx.files) == sorted(str(p) for p in root.rglob("*.wav"))   # every file in, every file out
    long_id = idx.files.index(str(root / "k0" / "long.wav"))
    np.testing.assert_allclose(idx.offsets[idx.file_ids == long_id], [0.0, 1.0, 2.0])   # to the end, no gap
    np.testing.assert_allclose(idx.offsets[idx.file_ids == idx.files.index(str(root / "k0" / "c8.wav"))], [0.0, 0.1])
    assert len(idx) == len(SHORT) + 1 + 3


def test_pool_files_gives_one_row_per_file_up_to_the_limit_and_windows_beyond():
    from audioclust.data.index import Index
    from audioclust.embed.inference import pool_files

    # file 0: 2.5 s (3 windows), file 1: 0.5 s (1), file 2: 12 s recording (2 windows shown)
    idx = Index(files=["a", "b", "c"], durations=[2.5, 0.5, 12.0], file_ids=np.array([0, 0, 0, 1, 2, 2]),
                offsets=np.array([0.0, 1.0, 1.5, 0.0, 0.0, 1.0]))
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ok = np.array([True, True, False, True, True, True])   # a window that failed to decode is left out
    emb = {"embedding": x, "sample_id": np.arange(6), "ok": ok, "voice": x + 1}
    out = pool_files(emb, idx, 10.0)
    np.testing.assert_array_equal(out["sample_id"], [0, 3, 4, 5])   # a file: its first window's id
    np.testing.assert_allclose(out["embedding"], [[1, 2], [6, 7], [8, 9], [10, 11]])   # mean of windows 0 and 1
    np.testing.assert_allclose(out["voice"][0], [2, 3])
    assert out["ok"].all()
    assert pool_files(emb, idx, None) is emb
    assert len(pool_files(emb, idx, 0)["sample_id"]) == 6   # 0: every window its own row
    # weighted by each window's signal power: a loud onset outweighs a quiet tail
    w = pool_files(emb, idx, 10.0, weights=np.array([3.0, 1.0, 5.0, 2.0, 1.0, 1.0]))
    np.testing.assert_allclose(w["embedding"][0], [0.5, 1.5])   # (3 * [0, 1] + 1 * [2, 3]) / 4
    np.testing.assert_allclose(w["embedding"][1:], x[3:])
    emb["ok"] = np.array([False, False, False, True, True, True])
    assert pool_files(emb, idx, 10.0)["ok"].tolist() == [False, True, True, True]


def test_auto_length_chosen_from_the_durations_printed_and_written_into_the_config(tmp_path, capsys):
    from audioclust.tasks.train import build

    root = _mixed(tmp_path / "clips")
    cfg = _compose("train", ["data=folder", f"data.root={root}", "data.clip_seconds=auto",
                             f"paths.cache_dir={tmp_path}/cache", *SMALL])
    dm, model = build(cfg)
    out = capsys.readouterr().out
    assert f"clip length: {CLIP:g} s (auto: 90th percentile of 10 file durations 0.30-3.00 s" in out
    assert f"1 of 10 files are longer than {CLIP:g} s (up to 3.00 s): cut into windows every {CLIP:g} s" in out
    assert cfg.data.clip_seconds == CLIP and cfg.data.hop_seconds == CLIP and cfg.frontend.clip_seconds == CLIP
    assert model.frontend.n_samples == round(CLIP * SR)
    dm.setup()
    idx = dm.index
    long_id = idx.files.index(str(root / "k0" / "long.wav"))
    np.testing.assert_allclose(idx.offsets[idx.file_ids == long_id], [0.0, CLIP, 3.0 - CLIP])
    assert len(idx) == len(SHORT) + 3 and np.all(idx.offsets[idx.file_ids != long_id] == 0)


def test_a_folder_of_equal_lengths_is_read_whole_without_windows(tmp_path, capsys):
    root = tmp_path / "clips"
    root.mkdir()
    for i in range(5):
        sf.write(root / f"c{i}.wav", tone(300, sr=SR, seconds=4.98), SR)   # e.g. 5 s environmental recordings
    dm = AudioDataModule(str(root), sr=SR, clip_seconds="auto", hop_seconds="auto", val_fraction=0)
    line = dm.resolve_windowing()
    assert dm.windowing.clip_seconds == 5.0 and dm.windowing.hop_seconds == 5.0
    assert line.startswith("clip length: 5 s (auto") and "no file is longer than 5 s" in line
    dm.setup()
    assert len(dm.index) == 5


def test_hop_auto_with_a_given_length_windows_every_clip(tmp_path):
    root = _mixed(tmp_path / "clips")
    dm = AudioDataModule(str(root), sr=SR, clip_seconds=1.0, hop_seconds="auto", val_fraction=0)
    assert dm.resolve_windowing().startswith("clip length: 1 s\n2 of 10 files are longer than 1 s")
    dm.setup()
    assert dm.windowing.hop_seconds == 1.0 and len(dm.index) == 8 + 2 + 3   # 1.1 s: 2 windows, 3 s: 3


def test_bad_hop_seconds_is_one_config_error(tmp_path):
    from audioclust.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^data.hop_seconds must be null, a number > 0 or auto, got 'x'"):
        AudioDataModule(str(tmp_path), hop_seconds="x")


def test_assign_cuts_new_audio_as_the_fit_did(tmp_path):
    """A pretrained encoder's data config is the folder default: mode=assign takes the fitted length, hop and pooling
    from the fit's encoder.json (here a fit with data.clip_seconds=auto), not the defaults or the new folder's."""
    new = tmp_path / "new"
    new.mkdir()
    for i in range(3):
        sf.write(new / f"n{i}.wav", tone(500, sr=SR, seconds=4.0), SR)
    cfg = _compose("cluster", ["encoder=speaker", "mode=assign", f"clusters_dir={tmp_path}", f"input={new}",
                               f"paths.cache_dir={tmp_path}/cache"])
    base = OmegaConf.create(OmegaConf.to_container(cfg.encoder_data, resolve=True))   # as load_embedder does
    assert (base.clip_seconds, base.hop_seconds, base.pool_windows_up_to) == (1.0, "auto", 30.0)
    base.sr = SR
    fitted = {"name": "speaker", "sr": SR, "windowing": Windowing(CLIP, CLIP, None, "power").record()}
    dm = make_datamodule(fitted_window(base, fitted, cfg.data), cfg.data, str(new))
    assert dm.resolve_windowing() is None and dm.windowing == Windowing(CLIP, CLIP, None, "power")
    dm.setup()
    np.testing.assert_allclose(dm.index.offsets[dm.index.file_ids == 0], [0.0, CLIP, 2 * CLIP, 4.0 - CLIP])


@pytest.mark.slow
def test_train_fit_assign_with_the_folder_defaults(tmp_path):
    """train.py on a folder of mixed lengths and one 40 s recording (the data=folder defaults), cluster.py fit, then
    assign on other audio: each clip is one row, the recording one row per 1 s window, the windowing is recorded
    (run_config.yaml, encoder.json) and assign cuts the new audio the same way."""
    root = _mixed(tmp_path / "clips")
    sf.write(root / "k1" / "recording.wav", tone(700, sr=SR, seconds=40.0), SR)
    run = tmp_path / "run"
    p = run_script("train.py", "data=folder", f"data.root={root}", "debug=default", *SMALL, "data.val_fraction=0.2",
                   "model.net.widths=[8]", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "clip length: 1 s\n3 of 11 files are longer than 1 s (up to 40.00 s)" in p.stdout
    assert "the 1 longer one(s) one row per window" in p.stdout
    data = OmegaConf.load(run / "run_config.yaml").data
    assert (data.clip_seconds, data.hop_seconds, data.pool_windows_up_to, data.pool_weights) == (1.0, 1.0, 30.0, "power")
    p = run_script("cluster.py", f"run_dir={run}", "kmeans.k=2", "wandb.enabled=false", "report.plots=false",
                   "report.explorer=false", "export.audacity=true", f"hydra.run.dir={tmp_path}/fit")
    assert p.returncode == 0, p.stderr[-3000:]
    # 10 clips and 1 recording: the clusters are fitted on one row per file, the recording's windows assigned
    assert "clusters fitted on one row per file (11 files); the 40 windows of the 1 file(s) over 30 s then" in p.stdout
    assert json.loads((tmp_path / "fit" / "metrics.json").read_text())["n_fit_rows"] == 11
    enc = json.loads((tmp_path / "fit" / "encoder.json").read_text())
    assert OmegaConf.load(run / "run_config.yaml").schema == RUN_SCHEMA and enc["schema"] == FIT_SCHEMA   # checked on reading
    assert enc["windowing"] == {"clip_seconds": 1.0, "hop_seconds": 1.0, "pool_windows_up_to": 30.0, "pool_weights": "power",
                                "segment": None}
    rows = _rows(tmp_path / "fit" / "assignments.csv")
    assert {r["path"] for r in rows} == {str(p) for p in root.rglob("*.wav")}   # count in = count out
    per_file = {}
    for r in rows:
        per_file.setdefault(r["path"], []).append(float(r["offset"]))
    assert sorted(per_file.pop(str(root / "k1" / "recording.wav"))) == list(range(40))   # a row per window
    assert all(v == [0.0] for v in per_file.values()) and len(rows) == 10 + 40         # a row per clip
    assert len(np.load(tmp_path / "fit" / "embeddings.npy")) == len(rows)
    # a pooled clip's label spans the whole file, not one window
    label = (tmp_path / "fit" / "exports").rglob("long*.txt")
    assert [line.split("\t")[:2] for line in next(label).read_text().splitlines()] == [["0.000000", "3.000000"]]
    new = tmp_path / "new"
    new.mkdir()
    sf.write(new / "n0.wav", tone(500, sr=SR, seconds=4.0), SR)
    sf.write(new / "n1.wav", tone(500, sr=SR, seconds=31.0), SR)
    p = run_script("cluster.py", f"run_dir={run}", "mode=assign", f"input={new}", f"clusters_dir={tmp_path}/fit",
                   "wandb.enabled=false", "report.plots=false", "report.explorer=false", f"hydra.run.dir={tmp_path}/assign")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(tmp_path / "assign" / "assignments.csv")
    assert [float(r["offset"]) for r in rows if r["path"].endswith("n0.wav")] == [0.0]
    assert sorted(float(r["offset"]) for r in rows if r["path"].endswith("n1.wav")) == list(range(31))


def test_explorer_plays_pooled_files_whole_and_windows_from_their_offset():
    def rows(hop, up_to, durations):
        return Windowing(1.0, hop, up_to).window_rows(durations)

    assert not rows(1.0, 10.0, [0.5, 4.0])   # every row a whole file: play it all
    assert rows(1.0, 10.0, [0.5, 40.0])      # a recording in windows: play each from its offset
    assert rows(1.0, None, [0.5, 4.0]) and not rows(None, None, [4.0])


def test_every_window_of_a_pooled_file_trains_the_model(tmp_path):
    root = tmp_path / "clips"
    root.mkdir()
    quiet_then_loud = np.concatenate([0.05 * tone(300, sr=SR, seconds=2.0), 0.8 * tone(300, sr=SR, seconds=1.0)])
    sf.write(root / "pooled.wav", quiet_then_loud, SR)   # 3 windows, the last one loudest
    sf.write(root / "short.wav", tone(500, sr=SR, seconds=0.5), SR)   # one window
    sf.write(root / "recording.wav", tone(700, sr=SR, seconds=12.0), SR)   # longer than pool_windows_up_to (10)
    dm = AudioDataModule(str(root), sr=SR, clip_seconds=1.0, hop_seconds="auto", pool_windows_up_to=10.0,
                         val_fraction=0.0)
    dm.setup("fit")
    idx = dm.index
    by_file = {}
    for i in dm.train_ids:
        by_file.setdefault(idx.files[idx.file_ids[i]].rsplit("/", 1)[1], []).append(float(idx.offsets[i]))
    assert by_file["short.wav"] == [0.0] and len(by_file["recording.wav"]) == 12   # long recordings: every window
    assert by_file["pooled.wav"] == [0.0, 1.0, 2.0]
    dm.predict_ids = None
    assert len(dm.predict_dataloader().dataset) == len(idx)   # the embedding pass still reads every window


@pytest.mark.parametrize("override,message", [
    ("data.pool_weights=loudest", "unknown data.pool_weights='loudest': use one of power, equal"),
    ("model.pooling=timestats_audio", "unknown model.pooling='timestats_audio': use one of concat, mean, max, timestats")])
def test_removed_values_are_one_clear_error(override, message):
    """Options that lost their benchmarks are gone (BENCHMARKS.md "Whole clips: which windows train, how files
    pool", archived "Whole clips by default"): a removed value of a kept key names the values there are."""
    from audioclust.errors import ConfigError
    from audioclust.tasks.train import build

    with pytest.raises(ConfigError) as err:
        build(_compose("train", ["data=folder", "data.root=/tmp", "data.clip_seconds=1.0", override]))
    assert str(err.value) == message


def test_a_removed_key_is_named_by_hydra(tmp_path):
    res = run_script(str(ROOT / "train.py"), "data=folder", f"data.root={tmp_path}", "data.train_windows=first", cwd=tmp_path,
                     timeout=120)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    assert res.returncode != 0 and "Could not override 'data.train_windows'" in lines[0], lines
    assert "Traceback" not in res.stderr


def test_pool_files_in_chunks_equals_pooling_at_once_and_leaves_unpooled_rows_mapped(tmp_path):
    from audioclust.data.index import Index
    from audioclust.embed.inference import pool_files

    rng = np.random.default_rng(0)
    counts = rng.integers(1, 6, 200)   # 200 short files of 1-5 windows, then one long recording
    fids = np.r_[np.repeat(np.arange(200), counts), np.full(50, 200)]
    offsets = np.r_[np.concatenate([np.arange(c, dtype=float) for c in counts]), np.arange(50.0)]
    idx = Index(files=[f"f{i}" for i in range(201)], durations=[5.0] * 200 + [60.0], file_ids=fids, offsets=offsets)
    n = len(fids)
    emb = {"embedding": rng.normal(size=(n, 8)).astype(np.float32), "sample_id": np.arange(n),
           "ok": rng.random(n) > 0.1, "power": rng.random(n).astype(np.float32)}
    at_once = pool_files(emb, idx, 10.0, weights=emb["power"], chunk=10 ** 9)
    chunked = pool_files(emb, idx, 10.0, weights=emb["power"], chunk=7)
    assert len(at_once["sample_id"]) == 200 + 50
    np.testing.assert_allclose(chunked["embedding"], at_once["embedding"], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(chunked["ok"], at_once["ok"])
    np.save(tmp_path / "e.npy", emb["embedding"])
    long_only = {**emb, "embedding": np.load(tmp_path / "e.npy", mmap_mode="r")}
    out = pool_files(long_only, idx, 0.5)   # every file longer than 0.5 s: one row per window, arrays untouched
    assert out is long_only and isinstance(out["embedding"], np.memmap)
