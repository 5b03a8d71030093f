"""Outputs of a million-clip run are streamed to disk: embeddings.npy and assignments.csv never sit whole in a
second buffer."""
import csv
import tracemalloc

import numpy as np

from audioclust import io


def test_write_npy_streams_a_memory_mapped_array(tmp_path):
    x = np.lib.format.open_memmap(tmp_path / "src.npy", mode="w+", dtype=np.float32, shape=(4000, 500))   # 8 MB
    x[:] = np.arange(500, dtype=np.float32)
    x.flush()
    src = np.load(tmp_path / "src.npy", mmap_mode="r")
    tracemalloc.start()
    io.write_npy(tmp_path / "out.npy", src)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes allocated to write 8 MB"
    assert np.array_equal(np.load(tmp_path / "out.npy"), src)
    assert not list(tmp_path.glob(".out.npy*"))   # the temp file was renamed


def test_write_csv_streams_rows(tmp_path):
    rows = [{"path": f"/a/{i}.wav", "offset": i / 10, "cluster": i % 7} for i in range(50_000)]
    tracemalloc.start()
    io.write_csv(tmp_path / "a.csv", rows, ["path", "offset", "cluster"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = (tmp_path / "a.csv").stat().st_size
    assert peak < size / 4, f"{peak} bytes allocated to write a {size}-byte csv"
    with open(tmp_path / "a.csv", newline="") as f:
        back = list(csv.DictReader(f))
    assert len(back) == 50_000 and back[123] == {"path": "/a/123.wav", "offset": "12.3", "cluster": "4"}
