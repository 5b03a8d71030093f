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


def _index(n_files=300, windows=200):
    from audioclust.data.index import Index

    files = [f"/rec/{i:03d}.wav" for i in range(n_files)]
    file_ids = np.repeat(np.arange(n_files), windows)
    offsets = np.tile(np.arange(windows) * 0.5, n_files)
    labels = [None if i % 5 == 0 else f"class{i % 3}" for i in range(n_files)]
    return Index(files=files + ["/rec/broken.wav"], labels=labels + [None], file_ids=file_ids, offsets=offsets,
                 skipped=[("/rec/empty.wav", "empty file")], durations=[20.0] * (n_files + 1))


def test_rows_are_columns_and_write_the_same_csv_as_one_dict_per_row(tmp_path):
    from audioclust.report.outputs import assignment_rows

    index = _index()
    n = len(index)
    rng = np.random.default_rng(0)
    sample_ids = rng.permutation(n)
    ok = rng.random(n) > 0.01   # a few windows failed to decode
    clusters = rng.integers(-1, 9, ok.sum())
    dists = rng.random(ok.sum()).astype(np.float32)
    rows, skipped = assignment_rows(index, sample_ids, ok, clusters, dists)
    assert len(rows) == ok.sum()
    # the file that produced no row and the one skipped at indexing are both accounted for
    assert {"path": "/rec/broken.wav", "reason": "could not be decoded"} in skipped
    assert {"path": "/rec/empty.wav", "reason": "empty file"} in skipped and len(skipped) == 2
    tracemalloc.start()
    rows.write_csv(tmp_path / "a.csv", chunk=1000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = (tmp_path / "a.csv").stat().st_size
    assert peak < size / 4, f"{peak} bytes allocated to write a {size}-byte csv"
    dicts = []   # what one dict per row gave before
    for sid, c, d in zip(sample_ids[ok], clusters, dists):
        fid = int(index.file_ids[sid])
        label = index.labels[fid]
        dicts.append({"path": index.files[fid], "offset": round(float(index.offsets[sid]), 3), "cluster": int(c),
                      "distance": round(float(d), 5), "label": "" if label is None else label})
    io.write_csv(tmp_path / "b.csv", dicts, list(rows.FIELDS))
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    labels = rows.labels
    assert labels == [d["label"] or None for d in dicts] and rows.path(7) == dicts[7]["path"]
    assert rows.paths[:3] == [d["path"] for d in dicts[:3]] and rows.label(0) == (dicts[0]["label"] or None)


def test_rows_without_any_label_give_no_labels():
    from audioclust.report.outputs import assignment_rows

    index = _index(20, 3)
    index.labels = [None] * len(index.files)
    rows, _ = assignment_rows(index, np.arange(len(index)), np.ones(len(index), bool), np.zeros(len(index), int),
                              np.zeros(len(index)))
    assert rows.labels is None and rows.label(0) is None
