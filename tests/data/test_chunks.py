"""Windows of long files read in order come out of decoded chunks (ClipDataset + Chunks): the same samples as a
window decoded on its own, each file read a bounded number of times."""
import math

import numpy as np
import pytest
import soundfile as sf

from audioclust.data import audio
from audioclust.data.dataset import ClipDataset
from audioclust.data.index import build_index
from audioclust.data.windowing import Windowing

NATIVE, SR, SECONDS = 22050, 16000, 130.37   # a non-native rate; the last window starts off the 0.1 s grid


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    t = np.arange(int(NATIVE * SECONDS)) / NATIVE
    x = 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 0.05 * t)) * t)
    x += 0.05 * np.random.default_rng(0).standard_normal(len(t))
    x[int(40 * NATIVE): int(47 * NATIVE)] = 0   # a silent stretch: trimming has something to do
    sf.write(folder / "a.wav", x.astype(np.float32), NATIVE, subtype="PCM_16")
    return folder


def _items(index, order, chunk_seconds, trim_db=None, cache_mb=0):
    ds = ClipDataset(index, np.arange(len(index)), SR, trim_db, cache_mb=cache_mb, chunk_seconds=chunk_seconds)
    return {int(i): ds[int(i)] for i in order}, ds


def _reads(monkeypatch) -> list:
    calls = []
    monkeypatch.setattr(audio, "_read", lambda *a, _f=audio._read: calls.append(a[1:]) or _f(*a))
    return calls


def test_chunked_windows_equal_windows_decoded_alone_and_read_each_file_a_few_times(long_file, monkeypatch):
    index = build_index(long_file, Windowing(1.0, 0.1))
    n = len(index)
    reads = _reads(monkeypatch)
    chunked, ds = _items(index, range(n), 60.0)
    n_chunked = len(reads)
    alone, _ = _items(index, range(n), 0)
    assert len(reads) - n_chunked == n == 1295   # decoded alone: one read per window
    assert ds.chunks.loads == 3 and n_chunked == 2 + 3   # the first two windows alone, then 61 s chunks
    whole = audio.load(str(long_file / "a.wav"), SR)
    for i in range(n):
        a, b = chunked[i], alone[i]
        assert a["ok"] and a["length"] == b["length"] == 16000
        np.testing.assert_allclose(a["wave"].numpy(), b["wave"].numpy(), atol=1e-5, rtol=0)
        start = int(round(index.offsets[i] * SR))   # and both are the whole file resampled, cut
        np.testing.assert_allclose(a["wave"].numpy(), whole[start: start + 16000], atol=1e-5, rtol=0)
    assert index.offsets[-1] * SR % 1 > 0.1   # the tail window starts off the output grid and still agrees


def test_rows_read_with_the_encoders_native_length_around_them(long_file):
    """data.native_seconds=3 (BirdNET's): a long recording's 1 s rows keep their offsets; each item is the 3 s of
    the file centred on its row (moved inside the file at its ends), chunked or decoded alone alike."""
    index = build_index(long_file, Windowing(1.0, 1.0, None, native_seconds=3.0))
    assert np.allclose(index.offsets, build_index(long_file, Windowing(1.0, 1.0, None)).offsets)
    n = len(index)
    chunked, _ = _items(index, range(n), 60.0)
    alone, _ = _items(index, [0, 50, n - 1], 0)
    whole = audio.load(str(long_file / "a.wav"), SR)
    for i in (0, 1, 50, n - 2, n - 1):
        start = int(round(index.windowing.read_start(index.offsets[i], SECONDS) * SR))
        assert chunked[i]["length"] == 3 * SR and chunked[i]["wave"].shape == (3 * SR,)
        np.testing.assert_allclose(chunked[i]["wave"].numpy(), whole[start: start + 3 * SR], atol=1e-5, rtol=0)
    assert index.windowing.read_start(index.offsets[50], SECONDS) == pytest.approx(index.offsets[50] - 1.0)
    for i in alone:
        np.testing.assert_allclose(alone[i]["wave"].numpy(), chunked[i]["wave"].numpy(), atol=1e-5, rtol=0)


def test_trimmed_lengths_and_the_clip_cache_are_the_same_with_chunks(long_file):
    index = build_index(long_file, Windowing(1.0, 0.1))
    order = range(350, 520)   # through the silent stretch
    chunked, ds = _items(index, order, 10.0, trim_db=30, cache_mb=1)
    alone, _ = _items(index, order, 0, trim_db=30)
    lengths = [chunked[i]["length"] for i in order]
    assert lengths == [alone[i]["length"] for i in order] and min(lengths) < 16000 and ds.chunks.loads >= 2
    for i in order:
        np.testing.assert_allclose(chunked[i]["wave"].numpy(), alone[i]["wave"].numpy(), atol=1e-5, rtol=0)
    cached = len(ds.cache)
    assert 0 < cached < len(order)   # 1 MB holds some clips: those come back from the cache, not the chunk
    loads = ds.chunks.loads
    again = ds[order[0]]
    assert ds.chunks.loads == loads and np.array_equal(again["wave"].numpy(), chunked[order[0]]["wave"].numpy())


def test_shuffled_requests_decode_windows_alone_strided_ones_use_chunks(long_file, monkeypatch):
    index = build_index(long_file, Windowing(1.0, 0.1))
    n = len(index)
    shuffled = np.random.default_rng(0).permutation(n)[:300]
    reads = _reads(monkeypatch)
    items, ds = _items(index, shuffled, 60.0)
    assert ds.chunks.loads <= 1 and len(reads) <= 300 + 2   # (almost) no 61 s decode for a random window
    strided = range(3, n, 4)   # rank 3 of a 4-process DDP predict (DistributedSampler, no shuffle)
    del reads[:]
    items, ds = _items(index, strided, 60.0)
    assert ds.chunks.loads == math.ceil(SECONDS / 61) and len(reads) == 2 + ds.chunks.loads
    alone, _ = _items(index, strided, 0)
    for i in strided:
        np.testing.assert_allclose(items[i]["wave"].numpy(), alone[i]["wave"].numpy(), atol=1e-5, rtol=0)


@pytest.mark.parametrize("native", [8000, 16000, 44100, 48000])
def test_load_chunk_is_the_whole_file_resampled_cut_wherever_it_starts(tmp_path, native):
    rng = np.random.default_rng(native)
    path = tmp_path / "b.flac"
    sf.write(path, (0.3 * rng.standard_normal(native * 5)).astype(np.float32), native, subtype="PCM_16")
    whole = audio.load(str(path), SR)
    for start, seconds in ((0.0, 1.0), (0.013, 0.5), (1.23456, 2.0), (4.5, 3.0)):
        x, first, ended = audio.load_chunk(str(path), SR, start, seconds)
        assert first == round(start * SR) and ended == (start + seconds > 5)
        assert len(x) == min(round(seconds * SR), len(whole) - first)
        np.testing.assert_allclose(x, whole[first: first + len(x)], atol=1e-5, rtol=0)


def test_embedding_windows_are_the_same_bits_whatever_was_asked_before(tmp_path, monkeypatch):
    """The embedding loop (Chunks grid): a window's samples depend on the file and its offset alone, so one process,
    each DDP rank's strided share, a resumed run's leftover rows, a sample of the rows (encoder=auto) and a backwards
    walk give the same bits, and data.chunk_seconds does not change them. A 44.1 kHz file resampled to 48 kHz: a
    resampler started elsewhere differs by ~1e-8, which BirdNET's front end amplified (the windows chunked or decoded
    alone as training asks for them fail this). In order, each grid cell is decoded about once; a lone window only
    up to its end."""
    from audioclust.data.dataset import GRID_SECONDS

    native, sr, seconds = 44100, 48000, 150.3
    rng = np.random.default_rng(1)
    x = 0.3 * rng.standard_normal(int(native * seconds)) * np.exp(-(np.arange(int(native * seconds)) % native) / 4000)
    sf.write(tmp_path / "c.wav", x.astype(np.float32), native, subtype="PCM_16")
    index = build_index(tmp_path, Windowing(1.0, 0.5))
    n = len(index)
    reads = _reads(monkeypatch)

    def items(order, chunk_seconds=60.0):
        ds = ClipDataset(index, np.arange(n), sr, chunk_seconds=chunk_seconds, grid=True)
        return {int(i): ds[int(i)]["wave"].numpy() for i in order}, ds

    ref, ds = items(range(n))
    cells = math.ceil(seconds / GRID_SECONDS)
    assert ds.chunks.loads == len(reads) <= cells + 1   # each cell about once (the first window alone, then cells)
    whole = audio.load(str(tmp_path / "c.wav"), sr)
    crossing = [i for i in range(n) if index.offsets[i] % GRID_SECONDS > GRID_SECONDS - 1][:3]   # into the next cell
    for i in [0, 1, *crossing, n // 2, n - 1]:   # and every one is the whole file resampled, cut
        start = int(round(index.offsets[i] * sr))
        np.testing.assert_allclose(ref[i], whole[start: start + sr][: len(ref[i])], atol=1e-5, rtol=0)
    del reads[:]
    lone, ds = items([250])
    assert len(reads) == 1 and ds.chunks.x.size < GRID_SECONDS * sr   # a lone window: up to its end, not the cell
    for order, chunk_seconds in ((range(1, n, 2), 60.0), (range(n - 1, -1, -1), 60.0), ([5, 6, 130, 131, 200, 250], 60.0),
                                 (range(n), 0), (range(n), 7.5)):
        got, _ = items(order, chunk_seconds)
        for i in order:
            assert np.array_equal(got[i], ref[i]), (i, chunk_seconds)


def test_a_file_failing_window_after_window_is_one_line(long_file, monkeypatch, caplog):
    """A corrupt long file (its header fine, its audio failing from some point on) gives one warning, not one per
    window; its windows that fail are left out (ok False), the others kept."""
    from audioclust.data import dataset
    from audioclust.errors import DataError

    index = build_index(long_file, Windowing(1.0, 1.0))
    real = dataset.load_chunk

    def corrupt_from_60_s(path, sr, start, duration):
        if start + duration > 60:
            raise DataError(f"cannot decode {path}: Internal psf_fseek() failed.")
        return real(path, sr, start, duration)

    monkeypatch.setattr(dataset, "load_chunk", corrupt_from_60_s)
    ds = ClipDataset(index, np.arange(len(index)), SR, chunk_seconds=60.0, grid=True)
    with caplog.at_level("WARNING"):
        ok = [ds[i]["ok"] for i in range(len(index))]
    lines = [r.getMessage() for r in caplog.records if "cannot decode" in r.getMessage()]
    assert len(lines) == 1 and "its other windows that fail are left out" in lines[0], lines
    assert 0 < sum(ok) < len(ok) and not any(ok[61:])
