"""The folder index: probed once in a thread pool and cached per data root (issue 15); data.clip_seconds=auto
(issue 14); the activity detector's windows and accounting (data.segment, issue 15)."""
import csv
import os

import numpy as np
import pytest
import soundfile as sf
from common_utils import ROOT, run_script, tone

from audioclust.data import index as index_mod
from audioclust.data.datamodule import AudioDataModule
from audioclust.data.index import build_index, cache_file
from audioclust.data.segment import SegmentConfig
from audioclust.data.windowing import Windowing, auto_clip_seconds
from audioclust.errors import ConfigError


@pytest.fixture
def counted(monkeypatch):
    """Counts the files opened by the indexer's probe."""
    calls = []
    real = index_mod.probe
    monkeypatch.setattr(index_mod, "probe", lambda p: calls.append(os.path.basename(p)) or real(p))
    return calls


def _folder(root, n=6):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(root / f"c{i}.wav", tone(200 + 100 * i, sr=8000, seconds=0.3 + 0.1 * i), 8000)
    (root / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    return root


def _same(a, b):
    assert a.files == b.files and a.skipped == b.skipped and a.durations == b.durations
    np.testing.assert_array_equal(a.file_ids, b.file_ids)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_second_build_probes_nothing_and_gives_the_same_index(tmp_path, counted, monkeypatch):
    root, cache = _folder(tmp_path / "clips"), tmp_path / "cache"
    first = build_index(root, Windowing(0.5, 0.25), cache_dir=cache)
    assert len(counted) == 7 and cache_file(cache, root).is_file()
    counted.clear()
    second = build_index(root, Windowing(0.5, 0.25), cache_dir=cache)
    assert counted == []                       # headers and the unreadable file's reason: all from the cache
    _same(first, second)
    assert second.skipped[0][1].startswith("not readable audio")
    # the same root spelled another way (another process, another cwd) finds the same cache
    monkeypatch.chdir(tmp_path)
    third = build_index("clips", Windowing(0.5, 0.25), cache_dir=cache)
    assert counted == [] and third.durations == first.durations and third.files[0] == "clips/c0.wav"


def test_changed_added_and_removed_files_are_noticed(tmp_path, counted):
    root, cache = _folder(tmp_path / "clips"), tmp_path / "cache"
    build_index(root, Windowing(0.5, None), cache_dir=cache)
    counted.clear()
    sf.write(root / "c2.wav", tone(440, sr=8000, seconds=2.0), 8000)          # changed: size and mtime
    st = os.stat(root / "c2.wav")
    os.utime(root / "c2.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    os.utime(root / "c3.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10 ** 9))  # touched only
    sf.write(root / "new.wav", tone(300, sr=8000, seconds=0.4), 8000)         # added
    (root / "c5.wav").unlink()                                                 # removed
    idx = build_index(root, Windowing(0.5, None), cache_dir=cache)
    assert sorted(counted) == ["c2.wav", "c3.wav", "new.wav"]
    names = [os.path.basename(f) for f in idx.files]
    assert "c5.wav" not in names and "new.wav" in names
    assert idx.durations[names.index("c2.wav")] == pytest.approx(2.0)
    fresh = build_index(root, Windowing(0.5, None))                                             # no cache: the same answer
    _same(idx, fresh)
    assert "c5.wav" not in str(cache_file(cache, root).read_text())


def test_a_broken_cache_file_is_ignored_and_rewritten(tmp_path, counted):
    root, cache = _folder(tmp_path / "clips", n=2), tmp_path / "cache"
    cache_file(cache, root).parent.mkdir(parents=True)
    cache_file(cache, root).write_text("{not json")
    build_index(root, Windowing(0.5, None), cache_dir=cache)
    counted.clear()
    build_index(root, Windowing(0.5, None), cache_dir=cache)
    assert counted == []


def test_datamodule_uses_the_cache(tmp_path, counted):
    root, cache = _folder(tmp_path / "clips"), tmp_path / "cache"
    for _ in range(2):
        dm = AudioDataModule(str(root), sr=8000, clip_seconds=0.5, val_fraction=0, index_cache=str(cache))
        dm.setup()
    assert len(counted) == 7


# ---- data.clip_seconds=auto -------------------------------------------------------------------------------

def test_auto_clip_seconds_rule():
    assert auto_clip_seconds([1.0] * 9 + [12.0]) == pytest.approx(2.1)   # 90th percentile 2.1, the outlier cut
    assert auto_clip_seconds([4.98] * 10) == pytest.approx(5.0)          # rounded up to 0.1 s
    assert auto_clip_seconds([2.0] * 10) == pytest.approx(2.0)           # no spurious round-up
    assert auto_clip_seconds([0.05] * 10) == 0.5 and auto_clip_seconds([60.0] * 10) == 10.0   # clamped


def test_auto_resolves_from_the_folder_and_notes_long_files(tmp_path, caplog):
    root = _folder(tmp_path / "clips")   # 0.3 .. 0.8 s and one unreadable file
    dm = AudioDataModule(str(root), sr=8000, clip_seconds="auto", val_fraction=0, index_cache=str(tmp_path / "c"))
    line = dm.resolve_windowing()
    assert dm.windowing.clip_seconds == 0.8 and line.startswith("clip length: 0.8 s (auto: 90th percentile of 6 file durations")
    dm.setup()
    assert len(dm.index) == 6
    dm = AudioDataModule(str(root), sr=8000, clip_seconds=0.5, val_fraction=0)
    with caplog.at_level("INFO"):
        dm.setup()
    assert "3 of 6 files are longer than 0.5 s (up to 0.80 s): only their first 0.5 s are used" in caplog.text


@pytest.mark.parametrize("value", ["abc", 0, -1.0, True])
def test_bad_clip_seconds_is_one_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match=r"^data.clip_seconds must be a number > 0 or auto, got"):
        AudioDataModule(str(tmp_path), clip_seconds=value)


def test_auto_needs_a_folder(tmp_path):
    with pytest.raises(ConfigError, match="auto needs a folder"):
        AudioDataModule(str(tmp_path), clip_seconds="auto", synthetic={"n_per_class": 2})


def test_train_build_writes_the_number_into_the_config(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from audioclust.tasks.train import build

    root = _folder(tmp_path / "clips")
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", ["data=folder", f"data.root={root}", "data.clip_seconds=auto", f"paths.cache_dir={tmp_path}/cache", "data.sr=8000",
                                "frontend.n_fft=256", "frontend.block_size=[64,16]"])
    dm, model = build(cfg)
    assert cfg.data.clip_seconds == 0.8 and cfg.frontend.clip_seconds == 0.8 and model.frontend.n_samples == 6400
    assert (tmp_path / "cache" / "index").is_dir()


def test_shipped_data_configs_keep_their_clip_length():
    from omegaconf import OmegaConf

    conf = ROOT / "conf" / "data"
    assert OmegaConf.load(conf / "synthetic.yaml").clip_seconds == 1.0
    assert OmegaConf.load(conf / "fsdd.yaml").clip_seconds == 1.0


# ---- data.segment: the activity detector in the index -----------------------------------------------------

SR = 8000
BURSTS = [(3.0, 3.6), (9.0, 9.4), (15.0, 17.5)]   # seconds


def _recording(path, seconds=20.0):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.005, int(seconds * SR))
    t = np.arange(int(seconds * SR)) / SR
    for a, b in BURSTS:
        m = (t >= a) & (t < b)
        x[m] += 0.3 * np.sin(2 * np.pi * 1000 * t[m])
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), SR)
    return path


def test_segmented_index_has_windows_only_at_the_events_and_accounts_for_every_second(tmp_path, monkeypatch):
    rec = _recording(tmp_path / "long" / "rec.wav")
    sf.write(tmp_path / "long" / "silent.wav", np.zeros(SR * 3, np.float32), SR)
    cfg = SegmentConfig()
    idx = build_index(tmp_path / "long", Windowing(1.0, None, segment=cfg), sr=SR, cache_dir=tmp_path / "cache")
    assert [os.path.basename(f) for f in idx.files] == ["rec.wav"]
    assert idx.skipped == [(str(tmp_path / "long" / "silent.wav"),
                            "no sound events above the noise floor (quiet stretches in segments.csv)")]
    for start in idx.offsets:                  # every window overlaps a burst
        assert any(start < b and start + 1.0 > a for a, b in BURSTS), start
    for a, b in BURSTS:                        # every instant of every burst is in a window
        assert all(any(s <= t <= s + 1.0 for s in idx.offsets) for t in np.arange(a, b, 0.01)), (a, b)
    assert len(idx) == 1 + 1 + 3               # short bursts: one centred window; 2.5 s (+ pad): three
    for name, seconds in (("rec.wav", 20.0), ("silent.wav", 3.0)):
        rows = [r for r in idx.segments if os.path.basename(r[0]) == name]
        assert sum(b - a for _, a, b, _, _ in rows) == pytest.approx(seconds, abs=1e-9)
        assert all(r1[2] == pytest.approx(r2[1]) for r1, r2 in zip(rows, rows[1:]))   # contiguous
    events = [(a, b) for p, a, b, k, _ in idx.segments if k == "event"]
    assert len(events) == 3 and all(abs(e[0] - (t[0] - 0.1)) < 0.06 for e, t in zip(events, BURSTS))
    # the detector's results are cached with the index, keyed by its settings
    calls = []
    import audioclust.data.segment as seg_mod
    real = seg_mod.detect_file
    monkeypatch.setattr(seg_mod, "detect_file", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    again = build_index(tmp_path / "long", Windowing(1.0, None, segment=cfg), sr=SR, cache_dir=tmp_path / "cache")
    assert calls == [] and again.segments == idx.segments
    np.testing.assert_array_equal(again.offsets, idx.offsets)
    build_index(tmp_path / "long", Windowing(1.0, None, segment=SegmentConfig(threshold_db=10)), sr=SR, cache_dir=tmp_path / "cache")
    assert len(calls) == 2                     # other settings: detected again
    # a file whose header reads but whose audio does not: skipped with the reason, the others indexed
    monkeypatch.setattr(seg_mod, "detect_file", lambda p, *a, **k: (_ for _ in ()).throw(
        seg_mod.DataError(f"cannot decode {p}: truncated")) if p.endswith("rec.wav") else real(p, *a, **k))
    with pytest.raises(index_mod.DataError, match="no readable audio.*truncated"):
        build_index(tmp_path / "long", Windowing(1.0, None, segment=SegmentConfig(threshold_db=12)), sr=SR)
    assert build_index(tmp_path / "long", Windowing(1.0, None, segment=cfg), sr=SR, cache_dir=tmp_path / "cache").files  # cached
    assert rec.is_file()


def test_bad_segment_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown data.segment key"):
        AudioDataModule(str(tmp_path), segment={"treshold_db": 3})
    with pytest.raises(ConfigError, match="threshold_db must be > 0"):
        AudioDataModule(str(tmp_path), segment={"threshold_db": -3})
    with pytest.raises(ConfigError, match="hop_seconds .* must be <= data.clip_seconds"):
        AudioDataModule(str(tmp_path), clip_seconds=1.0, hop_seconds=2.0, segment={})


@pytest.mark.slow
def test_cluster_writes_segments_csv(tmp_path):
    _recording(tmp_path / "long" / "a.wav")
    _recording(tmp_path / "long" / "b.wav", seconds=12.0)
    run = tmp_path / "run"
    common = ("data=folder", f"data.root={tmp_path}/long", "data/segment=energy", "data.clip_seconds=1.0",
              f"data.sr={SR}", "frontend.n_fft=256", "frontend.block_size=[64,16]", "threads=1",
              f"paths.cache_dir={tmp_path}/cache")
    p = run_script("train.py", "debug=default", *common, "data.val_fraction=0", "data.batch_size=4",
                   "trainer.max_epochs=1", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_script("cluster.py", f"run_dir={run}", "kmeans.k=2", f"hydra.run.dir={run}/fit", "threads=1",
                   "wandb.enabled=false", "report.plots=false", "report.explorer=false")
    assert p.returncode == 0, p.stderr[-3000:]
    with open(run / "fit" / "segments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for name, seconds in (("a.wav", 20.0), ("b.wav", 12.0)):
        mine = [r for r in rows if r["path"].endswith(name)]
        assert sum(float(r["end"]) - float(r["start"]) for r in mine) == pytest.approx(seconds, abs=1e-4)
        assert {r["kind"] for r in mine} == {"event", "quiet"} and all(r["reason"] for r in mine)
    with open(run / "fit" / "assignments.csv", newline="") as f:
        offsets = [float(r["offset"]) for r in csv.DictReader(f)]
    assert all(any(o < b and o + 1.0 > a for a, b in BURSTS) for o in offsets)
