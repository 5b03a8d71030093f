"""Every common audio format: what libsndfile cannot read (AAC in .m4a, the sound track of an .mp4, Matroska, ...) is
decoded by FFmpeg through PyAV, in chunks like the rest, with its true length; a broken one is skipped with the
reason; files that are not audio are counted, in one printed line and in metrics.json."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from common_utils import noise, run_script, tone
from common_utils.media import decoded_samples, write_av

from audioclust.data import audio
from audioclust.data.dataset import Chunks
from audioclust.errors import DataError

NATIVE = 44100


def _signal(seconds: float, sr: int = NATIVE) -> np.ndarray:
    """Stereo: a glide on the left, a tone on the right (samples a lossy codec keeps to about 1e-2)."""
    t = np.arange(int(round(seconds * sr))) / sr
    return np.stack([0.3 * np.sin(2 * np.pi * (300 + 100 * t) * t), 0.3 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    x = _signal(7.3)
    return {"m4a": write_av(d / "phone.m4a", x, NATIVE), "mp4": write_av(d / "camera.mp4", x, NATIVE, video=True),
            "mka": write_av(d / "rec.mka", x, NATIVE, fmt="matroska")}


@pytest.mark.parametrize("kind", ["m4a", "mp4"])
def test_mp4_length_is_the_samples_written_and_what_is_decoded(media, kind):
    """The header's length is the written signal's (the encoder's priming and padding left out), and decoding the
    file gives exactly that many samples: FFmpeg's raw decode is that plus the padding of the last AAC frame."""
    info = audio.probe(media[kind])
    written = _signal(7.3).shape[1]
    assert (info.frames, info.samplerate, info.channels) == (written, NATIVE, 2)
    x, native = audio.read_ffmpeg(str(media[kind]), 0.0, None)
    assert native == NATIVE and x.shape == (written, 2)
    assert written <= decoded_samples(media[kind]) < written + 1024
    # in time with what was written (the priming is dropped): a lossy copy of the same samples (RMS error about
    # 0.01 of a 0.3 sine; 0.3 with the 1024 samples of priming left in)
    assert np.sqrt(np.mean((x.T - _signal(7.3)) ** 2)) < 0.02


def test_a_track_that_starts_late_is_read_from_its_own_start(tmp_path):
    """Timestamps after a seek count from the track's first one (an .mp4 whose sound starts 0.5 s in): a window
    read from a seek equals the same window of the whole track."""
    path = write_av(tmp_path / "late.mp4", _signal(4.0), NATIVE, start=NATIVE // 2)
    whole, _ = audio.read_ffmpeg(str(path), 0.0, None)
    assert len(whole) == audio.probe(path).frames   # the written samples and, here, one AAC frame of priming
    assert 0 <= len(whole) - _signal(4.0).shape[1] <= 1024
    for start in (1.0, 2.5):
        x, _ = audio.read_ffmpeg(str(path), start, 0.5)
        a = int(start * NATIVE)
        np.testing.assert_allclose(x, whole[a:a + len(x)], atol=1e-4, rtol=0)


def test_other_containers_length_is_their_decoded_sample_count(media):
    info = audio.probe(media["mka"])   # Matroska gives milliseconds: the length is counted by decoding once
    assert info.frames == decoded_samples(media["mka"]) == len(audio.load(str(media["mka"]), NATIVE))


@pytest.mark.parametrize("kind", ["m4a", "mp4", "mka"])
def test_chunks_and_windows_decoded_alone_are_the_whole_file_cut(media, kind):
    path, sr = str(media[kind]), 16000
    whole = audio.load(path, sr)
    assert len(whole) == round(audio.probe(path).frames * sr / NATIVE)
    chunks = Chunks(sr, 1.0, seconds=3.0)
    for offset in np.arange(0, 6.3, 0.5):
        alone, first, ended = audio.load_chunk(path, sr, float(offset), 1.0)
        a = int(round(offset * sr))
        assert first == a and not ended and len(alone) == sr
        # lossy decoders: a read from a seek and a read from the start agree to about 1e-5, not bit for bit
        np.testing.assert_allclose(alone, whole[a:a + sr], atol=1e-4, rtol=0)
        cut = chunks.window(path, float(offset))
        if cut is not None:
            np.testing.assert_allclose(cut, whole[a:a + sr], atol=1e-4, rtol=0)
    assert chunks.loads >= 1   # in-order windows came out of decoded chunks
    tail, _, ended = audio.load_chunk(path, sr, 7.0, 1.0)   # past the end: fewer samples, and it says so
    assert ended and len(tail) == len(whole) - 7 * sr


def test_chunks_in_order_decode_a_file_without_exact_seeking_once(media, monkeypatch):
    """Matroska cannot seek to an exact sample: its chunks are decoded from the start, continuing where the last one
    stopped (a 7.3 s file in 1 s chunks: each frame about once, not once per chunk after it)."""
    path = str(media["mka"])
    whole, _ = audio.read_ffmpeg(path, 0.0, None)
    calls = []
    monkeypatch.setattr(audio, "_frame_samples", lambda f, _f=audio._frame_samples: calls.append(1) or _f(f))
    got = [audio.read_ffmpeg(path, s, 1.0 + 0.1)[0] for s in range(7)]   # overlapping, as Chunks asks
    n_frames = -(-round(7.1 * NATIVE) // 1024)   # AAC frames up to the last chunk's end
    assert n_frames <= len(calls) <= n_frames + 1
    for s, x in enumerate(got):
        np.testing.assert_array_equal(x, whole[s * NATIVE: s * NATIVE + len(x)])
    calls.clear()
    audio.read_ffmpeg(path, 0.5, 0.1)   # back before the kept samples: from the start again
    assert 0 < len(calls) < 30


def test_exported_cluster_folders_cut_windows_out_of_an_m4a(tmp_path, media):
    from audioclust.report.export import Assignment, write_cluster_folders

    (wav,) = write_cluster_folders([Assignment(str(media["m4a"]), 2.0, 1.5, 0, 0.1)], tmp_path, cut=True)
    x, sr = sf.read(wav, dtype="float32")
    want, _ = audio.read_ffmpeg(str(media["m4a"]), 2.0, 1.5)
    assert sr == NATIVE and x.shape == (round(1.5 * NATIVE), 2)
    np.testing.assert_array_equal(x, want)


def test_blocks_stream_the_whole_file(media):
    x, _ = audio.read_ffmpeg(str(media["m4a"]), 0.0, None)
    parts = list(audio.blocks(media["m4a"], 10000))
    assert all(len(b) == 10000 for b, _ in parts[:-1]) and {r for _, r in parts} == {NATIVE}
    np.testing.assert_array_equal(np.concatenate([b for b, _ in parts]), x.mean(axis=1))


def test_broken_and_soundless_files_have_a_one_line_reason(tmp_path, media):
    (tmp_path / "cut.m4a").write_bytes(media["m4a"].read_bytes()[:3000])   # the header (moov) is at the end: gone
    (tmp_path / "junk.m4a").write_bytes(b"not audio at all" * 100)
    write_av(tmp_path / "video.mp4", np.zeros((1, 0)), NATIVE, video=True)   # no sound: the track is left out
    for name, reason in (("cut.m4a", "not readable audio: Invalid data"), ("junk.m4a", "not readable audio: Invalid data"),
                         ("video.mp4", "not readable audio: no audio track")):
        with pytest.raises(DataError) as err:
            audio.probe(tmp_path / name)
        assert str(err.value).startswith(reason) and "\n" not in str(err.value), (name, str(err.value))


def test_the_folder_walk_counts_what_is_not_audio(tmp_path):
    (tmp_path / ".git").mkdir()
    for name in ("a.wav", "b.M4A", "c.mp4", "notes.txt", "cover.jpg", "more.txt", "README", ".DS_Store", ".git/HEAD"):
        (tmp_path / name).write_bytes(b"x")
    found, other = audio.walk_audio(tmp_path)
    assert [p.name for p in found] == ["a.wav", "b.M4A", "c.mp4"]
    assert other == {"": 1, ".jpg": 1, ".txt": 2}   # hidden files and hidden folders' files are not counted
    assert audio.not_audio_line(other) == "not audio, left out: 4 files (2 .txt, 1 (no extension), 1 .jpg)"
    assert audio.not_audio_line({}) is None


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_cluster_places_phone_and_video_files_and_accounts_for_every_file(tmp_path):
    """audioclust-cluster (encoder=speaker, the fastest) on a folder of WAV clips, an .m4a (AAC), an .mp4 (AAC
    beside a video track), a broken .m4a and a text file: the m4a and mp4 are clustered with their true lengths,
    the broken one is in skipped.csv with the reason, the text file counted in one printed line and in metrics.json."""
    pytest.importorskip("resemblyzer", reason="encoder=speaker needs its extra (docs/encoders.md)")
    root = tmp_path / "clips"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    for i in range(3):
        sf.write(root / "a" / f"tone{i}.wav", tone(300 + 60 * i), 16000)
        sf.write(root / "b" / f"noise{i}.wav", noise(i), 16000)
    write_av(root / "a" / "phone.m4a", _signal(2.0), NATIVE)                # one row: pooled (up to 2.5 s)
    write_av(root / "b" / "camera.mp4", _signal(3.3), NATIVE, video=True)   # longer: a row per 1 s window
    (root / "a" / "broken.m4a").write_bytes((root / "a" / "phone.m4a").read_bytes()[:3000])
    (root / "notes.txt").write_text("field notes\n")
    out = tmp_path / "out"
    p = run_script("cluster.py", "encoder=speaker", f"data.root={root}", "kmeans.k=2", "threads=1", "data.clip_seconds=1",
                   "data.hop_seconds=1", "data.pool_windows_up_to=2.5", "wandb.enabled=false", "report.plots=false",
                   "report.explorer=false", f"paths.cache_dir={tmp_path}/cache", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    rows = _rows(out / "assignments.csv")
    offsets = {}
    for r in rows:
        offsets.setdefault(Path(r["path"]).name, []).append(float(r["offset"]))
    assert offsets.pop("phone.m4a") == [0.0]
    assert offsets.pop("camera.mp4") == [0.0, 1.0, 2.0, 2.3]   # the last window ends at 3.3 s, the track's end
    assert sorted(offsets) == [f"{k}{i}.wav" for k in ("noise", "tone") for i in range(3)]
    skipped = {Path(r["path"]).name: r["reason"] for r in _rows(out / "skipped.csv")}
    assert list(skipped) == ["broken.m4a"] and skipped["broken.m4a"].startswith("not readable audio: ")
    m = json.loads((out / "metrics.json").read_text())
    assert (m["n_files"], m["n_skipped"], m["n_not_audio"]) == (9, 1, 1)
    shown = [line for line in (p.stdout + p.stderr).splitlines() if "not audio" in line]
    assert len(shown) == 1 and shown[0].endswith("not audio, left out: 1 file (1 .txt)"), shown
    import pyarrow.parquet as pq

    table = pq.read_table(out / "clusters.parquet").to_pydict()
    seconds = {Path(p).name: d for p, d in zip(table["path"], table["duration"])}
    assert seconds["phone.m4a"] == pytest.approx(2.0) and seconds["camera.mp4"] == pytest.approx(1.0)   # pooled / a window
