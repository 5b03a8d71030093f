
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common_utils import chirp, tone

from audioclust.data.audio import list_audio_files, load, probe
from audioclust.data.datamodule import AudioDataModule
from audioclust.data.index import build_index, split_files
from audioclust.data.labels import make_labeller
from audioclust.data.windowing import Windowing
from audioclust.errors import ConfigError, DataError

FORMATS = [("wav", "PCM_16"), ("flac", "PCM_16"), ("ogg", "VORBIS"), ("aiff", "PCM_16"), ("mp3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("ext,subtype", FORMATS)
def test_each_format_decodes_to_mono_at_target_rate(tmp_path, ext, subtype):
    x = tone(440, sr=44100, seconds=0.5)
    stereo = np.stack([x, 0.5 * x], axis=1)
    path = tmp_path / f"a.{ext}"
    sf.write(path, stereo, 44100, subtype=subtype)
    info = probe(path)
    assert info.channels == 2 and info.samplerate == 44100
    y = load(str(path), 16000)
    assert y.ndim == 1 and abs(len(y) - 8000) < 1200  # lossy codecs add a little padding
    spec = np.abs(np.fft.rfft(y[:4096]))
    assert abs(np.argmax(spec) * 16000 / 4096 - 440) < 10  # the tone survives the resampler


@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_16", 3), ("PCM_24", 2), ("FLOAT", 1), ("PCM_U8", 1)])
def test_wav_fast_path_decodes_the_same_samples_as_libsndfile(tmp_path, monkeypatch, subtype, channels):
    """16-bit PCM WAV goes through the standard library's wave module; every other WAV through libsndfile.
    Both must give the same samples, whole or windowed, including a window starting past the end."""
    from audioclust.data import audio

    rng = np.random.default_rng(0)
    x = np.clip(rng.standard_normal((3001, channels)) * 0.4, -1, 1)
    path = tmp_path / "a.wav"
    sf.write(path, x, 8000, subtype=subtype)
    calls = []
    monkeypatch.setattr(audio, "_read_soundfile", lambda *a, _f=audio._read_soundfile: calls.append(1) or _f(*a))
    for start, duration in ((0.0, None), (0.1, 0.2), (0.3, 5.0), (9.0, 0.1)):
        fast = load(str(path), 8000, start, duration)
        ref, native = audio._read_soundfile(str(path), start, duration)
        np.testing.assert_array_equal(fast, np.clip(ref.mean(axis=1), -1, 1))
        assert native == 8000 and len(fast) == len(ref) > 0
    assert len(calls) == (4 if subtype == "PCM_16" else 8)  # the fast path never fell back on 16-bit PCM


def test_windows_cut_long_files_without_dropping_the_tail():
    assert Windowing(1.0, 0.5).offsets(0.5) == [0.0]
    assert Windowing(1.0, None).offsets(3.2) == [0.0]
    starts = Windowing(1.0, 1.0).offsets(3.2)
    assert starts[:3] == [0.0, 1.0, 2.0] and starts[-1] == pytest.approx(2.2)


def test_index_lists_bad_files_with_reasons(tmp_path):
    sf.write(tmp_path / "good.wav", tone(300), 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.flac").write_bytes(np.random.default_rng(0).bytes(2000))
    (tmp_path / "folder.wav").mkdir()
    (tmp_path / "notes.txt").write_text("not audio")
    idx = build_index(tmp_path, Windowing(1.0, None))
    assert [p.split("/")[-1] for p in idx.files] == ["good.wav"]
    reasons = {p.split("/")[-1]: r for p, r in idx.skipped}
    assert reasons == {"empty.wav": "empty file", "junk.flac": reasons["junk.flac"], "folder.wav": "is a directory"}
    assert reasons["junk.flac"].startswith("not readable audio")
    with pytest.raises(DataError, match="junk.flac|empty.wav|folder.wav"):
        build_index(tmp_path, Windowing(1.0, None), strict=True)


def test_missing_or_empty_roots_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        list_audio_files(tmp_path / "nope")
    with pytest.raises(DataError, match="no audio files found"):
        build_index(tmp_path, Windowing(1.0, None))
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVE")
    with pytest.raises(DataError, match="no readable audio"):
        build_index(tmp_path, Windowing(1.0, None))


def test_labels_from_regex_parent_and_manifest(tmp_path):
    path = tmp_path / "dogs" / "7_jackson_32.wav"
    assert make_labeller("regex", r"^(\d)_")(path) == "7"
    assert make_labeller("regex", r"^\d_([a-z]+)_")(path) == "jackson"
    assert make_labeller("parent")(path) == "dogs"
    assert make_labeller("none")(path) is None
    (tmp_path / "m.csv").write_text("path,label\ndogs/7_jackson_32.wav,bark\n")
    assert make_labeller("manifest", manifest=str(tmp_path / "m.csv"))(path) == "bark"
    with pytest.raises(ConfigError, match="unknown data.labels.source"):
        make_labeller("filename")


def test_split_is_seeded_and_disjoint():
    tr, va = split_files(100, 0.2, seed=3)
    assert len(va) == 20 and not set(tr) & set(va) and len(tr) + len(va) == 100
    assert np.array_equal(va, split_files(100, 0.2, seed=3)[1])
    assert not np.array_equal(va, split_files(100, 0.2, seed=4)[1])


def test_datamodule_batches_fixed_length_waves(tone_folder):
    sf.write(tone_folder / "long.wav", chirp(100, 3000, seconds=3.5), 16000)
    dm = AudioDataModule(str(tone_folder), sr=8000, clip_seconds=1.0, hop_seconds=1.0,
                         labels={"source": "parent"}, batch_size=4, val_fraction=0.25)
    dm.setup("fit")
    assert len(dm.index.files) == 13 and len(dm.index) == 12 + 4  # 3.5 s -> windows at 0, 1, 2, 2.5
    batch = next(iter(dm.train_dataloader()))
    assert batch["wave"].shape == (4, 8000) and batch["ok"].all()
    ids = sorted(dm.train_ids + dm.val_ids)
    assert ids == list(range(len(dm.index)))
    pred = [b["sample_id"] for b in dm.predict_dataloader()]
    assert np.concatenate(pred).tolist() == list(range(len(dm.index)))


def test_datamodule_rejects_bad_values(tone_folder):
    with pytest.raises(ConfigError):
        AudioDataModule(str(tone_folder), clip_seconds=0)
    with pytest.raises(ConfigError):
        AudioDataModule(str(tone_folder), val_fraction=1.5)


def test_trim_silence_keeps_only_the_sound():
    from audioclust.data.audio import trim_silence

    x = np.zeros(16000, np.float32)
    x[4000:8000] = tone(500, seconds=0.25)
    y = trim_silence(x + 1e-4 * np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000, 30)
    assert 3900 <= len(y) <= 4200
    assert len(trim_silence(x[:10], 16000, 30)) == 10  # too short to trim: unchanged


def test_dataset_reports_trimmed_length(tone_folder):
    x = np.zeros(16000, np.float32)
    x[8000:12000] = tone(500, seconds=0.25)
    sf.write(tone_folder / "low" / "late.wav", x, 16000)
    dm = AudioDataModule(str(tone_folder), sr=16000, trim_db=30, max_files=None)
    dm.setup()
    ds = dm.predict_dataloader().dataset
    item = ds[dm.index.files.index(str(tone_folder / "low" / "late.wav"))]
    assert 3900 <= item["length"] <= 4200 and item["wave"][:3900].abs().max() > 0.1  # the sound moved to 0


def test_manifest_columns_and_rows_groupings(tmp_path):
    """Every manifest column but path, by resolved path; the rows' folder, file (windows) and manifest groupings."""
    from audioclust.data.labels import manifest_columns
    from audioclust.report.outputs import Rows

    (tmp_path / "a").mkdir()
    (tmp_path / "m.csv").write_text("path,label,site\na/x.wav,bark,north\n" + f"{tmp_path}/y.wav,mew,south\n")
    cols = manifest_columns(str(tmp_path / "m.csv"))
    assert cols == {"label": {str(tmp_path / "a" / "x.wav"): "bark", str(tmp_path / "y.wav"): "mew"},
                    "site": {str(tmp_path / "a" / "x.wav"): "north", str(tmp_path / "y.wav"): "south"}}
    files = [str(tmp_path / "a" / "x.wav"), str(tmp_path / "y.wav")]
    rows = Rows(files, np.array([0, 0, 1]), np.array([0.0, 1.0, 0.0]), np.zeros(3, int), np.zeros(3), [None, None])
    g = rows.groupings(str(tmp_path / "m.csv"))
    assert g["folder"] == [str(tmp_path / "a")] * 2 + [str(tmp_path)]
    assert g["file"] == [files[0], files[0], files[1]]
    assert g["manifest:site"] == ["north", "north", "south"] and g["manifest:label"] == ["bark", "bark", "mew"]
    assert "file" not in Rows(files, np.array([0, 1]), np.zeros(2), np.zeros(2, int), np.zeros(2), [None] * 2).groupings()


def test_a_module_at_another_rate_reads_the_same_samples_of_the_same_folder(tmp_path):
    """at_rate (an encoder=mix member's rate): the same index and folder, each sample read at the new rate; a
    generated set is read where it was generated, not generated again at that rate."""
    dm = AudioDataModule(str(tmp_path / "gen"), sr=8000, clip_seconds=0.5, hop_seconds=None,
                         synthetic={"n_per_class": 2, "seed": 0}, labels={"source": "parent"})
    dm.prepare_data()
    dm.setup("predict")
    other = dm.at_rate(16000)
    other.prepare_data()
    assert other.index is dm.index and other.sr == 16000 and dm.sr == 8000
    assert [p.name for p in (tmp_path / "gen").iterdir() if not p.name.startswith(".")] == [Path(dm._data_root()).name]
    a, b = dm.predict_dataloader().dataset[3], other.predict_dataloader().dataset[3]
    assert a["sample_id"] == b["sample_id"] == 3 and a["wave"].shape == (4000,) and b["wave"].shape == (8000,)
    np.testing.assert_allclose(b["wave"][::2].numpy(), a["wave"].numpy(), atol=0.05)
    with pytest.raises(ConfigError, match="data.sr"):
        dm.at_rate(0)
