"""Annotation exports: Raven selection tables, Audacity labels, per-cluster folders, read back from disk."""
from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import soundfile as sf

from audioclust.errors import DataError
from audioclust.report.export import RAVEN_COLUMNS, Assignment, cluster_name, export_all, read_assignments, write_cluster_folders, write_raven

CLIP = 1.0


@pytest.fixture
def run(tmp_path):
    """Two recordings (one 16 kHz mono 10 s, one 8 kHz stereo 6 s, the second under a sub-folder with the same
    stem as a third) and an assignments.csv as the cluster task writes it."""
    audio = tmp_path / "audio"
    (audio / "b").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(audio / "dawn.wav", rng.uniform(-0.5, 0.5, 16000 * 10).astype(np.float32), 16000, subtype="PCM_16")
    sf.write(audio / "b" / "dusk.flac", rng.uniform(-0.5, 0.5, (8000 * 6, 2)), 8000)
    sf.write(audio / "dusk.wav", rng.uniform(-0.5, 0.5, 8000 * 3), 8000)
    rows = [
        (audio / "dawn.wav", 4.0, 2, 0.5, "bird"), (audio / "dawn.wav", 0.5, 2, 0.25, "bird"),
        (audio / "dawn.wav", 9.5, -1, float("nan"), ""),            # last window runs past the end (10 s)
        (audio / "b" / "dusk.flac", 1.25, 7, 1.5, "frog"), (audio / "b" / "dusk.flac", 3.0, 2, 0.75, "bird"),
        (audio / "dusk.wav", 0.0, 7, 0.1, "frog"),
    ]
    csv_path = tmp_path / "assignments.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "offset", "cluster", "distance", "label"])
        for p, off, c, d, lab in rows:
            w.writerow([str(p), off, c, "" if np.isnan(d) else d, lab])
    return tmp_path, audio, read_assignments(csv_path, CLIP)


def _table(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_read_assignments(run):
    _, audio, rows = run
    assert len(rows) == 6 and all(r.duration == CLIP for r in rows)
    assert rows[2].cluster == -1 and np.isnan(rows[2].distance)
    assert cluster_name(-1) == "noise" and cluster_name(3) == "c3"


def test_raven_per_recording(run):
    tmp, audio, rows = run
    paths = export_all(rows, tmp / "out")
    raven = {p.name: p for p in paths["raven"]}
    # same stem in two folders: the stems are disambiguated by relative path
    assert set(raven) == {"dawn.Table.1.selections.txt", "b__dusk.Table.1.selections.txt",
                          "dusk.Table.1.selections.txt", "all.Table.1.selections.txt"}
    header = open(raven["dawn.Table.1.selections.txt"]).readline().rstrip("\n").split("\t")
    assert header[:7] == RAVEN_COLUMNS and header[7:] == ["Annotation", "Cluster", "Distance", "Label"]
    t = _table(raven["dawn.Table.1.selections.txt"])
    assert [r["Selection"] for r in t] == ["1", "2", "3"]
    assert {r["View"] for r in t} == {"Spectrogram 1"} and {r["Channel"] for r in t} == {"1"}
    want = sorted([r for r in rows if r.path.endswith("dawn.wav")], key=lambda r: r.offset)
    assert [float(r["Begin Time (s)"]) for r in t] == [r.offset for r in want]
    assert [float(r["End Time (s)"]) for r in t] == [1.5, 5.0, 10.0]   # clipped to the file's 10 s
    assert {r["Low Freq (Hz)"] for r in t} == {"0"} and {r["High Freq (Hz)"] for r in t} == {"8000"}
    assert [r["Cluster"] for r in t] == ["2", "2", "-1"] and [r["Annotation"] for r in t] == ["c2", "c2", "noise"]
    assert [r["Distance"] for r in t] == ["0.250000", "0.500000", "nan"]
    t = _table(raven["b__dusk.Table.1.selections.txt"])
    assert {r["High Freq (Hz)"] for r in t} == {"4000"} and [r["Label"] for r in t] == ["frog", "bird"]


def test_raven_whole_run_is_a_file_sequence(run):
    tmp, audio, rows = run
    run_table = write_raven(rows, tmp / "raven")[-1]
    assert run_table.name == "all.Table.1.selections.txt"
    t = _table(run_table)
    assert len(t) == len(rows) and [r["Selection"] for r in t] == [str(i) for i in range(1, 7)]
    # files in sorted path order: b/dusk.flac (6 s), dawn.wav (10 s), dusk.wav (3 s)
    assert [r["Begin File"] for r in t] == ["dusk.flac"] * 2 + ["dawn.wav"] * 3 + ["dusk.wav"]
    assert all(os.path.isabs(r["Begin Path"]) and os.path.exists(r["Begin Path"]) for r in t)
    starts = {"dusk.flac": 0.0, "dawn.wav": 6.0, "dusk.wav": 16.0}
    for r in t:
        off = float(r["File Offset (s)"])
        assert float(r["Begin Time (s)"]) == pytest.approx(starts[r["Begin File"]] + off)
        src = next(a for a in rows if a.path == r["Begin Path"] and a.offset == off)
        assert r["Cluster"] == str(src.cluster)


def test_audacity_labels_parse(run):
    tmp, audio, rows = run
    paths = export_all(rows, tmp / "out")["audacity"]
    assert sorted(p.name for p in paths) == ["b__dusk.labels.txt", "dawn.labels.txt", "dusk.labels.txt"]
    lines = (tmp / "out" / "audacity" / "dawn.labels.txt").read_text().splitlines()
    parsed = [(float(a), float(b), lab) for a, b, lab in (ln.split("\t") for ln in lines)]
    assert parsed == [(0.5, 1.5, "c2"), (4.0, 5.0, "c2"), (9.5, 10.5, "noise")]


def test_cluster_folders_symlinks(run):
    tmp, audio, rows = run
    paths = export_all(rows, tmp / "out", raven=False, audacity=False, folders=True)["clusters"]
    root = tmp / "out" / "clusters"
    assert sorted(d.name for d in root.iterdir() if d.is_dir()) == ["c2", "c7", "noise"]
    assert len(paths) == 6 and all(p.is_symlink() and p.exists() for p in paths)
    c2 = sorted(p.name for p in (root / "c2").iterdir())
    assert c2[0].startswith("1_dawn@0.500s") and c2[1].startswith("2_dawn@4.000s")  # ranked by distance
    assert os.readlink(root / "c7" / "1_dusk@0.000s.wav") == str(audio / "dusk.wav")
    # a second export replaces the tree: no stale entries
    export_all(rows[:2], tmp / "out", raven=False, audacity=False, folders=True)
    assert sorted(d.name for d in root.iterdir() if d.is_dir()) == ["c2"]
    assert not [p for p in (tmp / "out").iterdir() if p.name.startswith(".clusters")]


def test_cluster_folders_cut_copies(run):
    tmp, audio, rows = run
    paths = write_cluster_folders(rows, tmp / "out", cut=True)
    assert len(paths) == 6
    by_name = {p.name: p for p in paths}
    x, sr = sf.read(by_name["1_dawn@0.500s.wav"])
    assert sr == 16000 and x.shape == (16000,)
    src, _ = sf.read(audio / "dawn.wav")
    np.testing.assert_allclose(x, src[8000:24000], atol=1e-4)
    x, sr = sf.read(by_name["2_b__dusk@1.250s.wav"])
    assert sr == 8000 and x.shape == (8000, 2)                       # own rate and channels
    x, _ = sf.read(next(p for p in paths if p.parent.name == "noise"))
    assert x.shape == (8000,)                                       # the window past the end is cut short (0.5 s)


def test_names_that_clean_alike_keep_their_own_folders(run):
    """Curated names whose folders would coincide ("a/b" and "a:b" both clean to a_b; "A_B" is the same folder on a
    case-insensitive file system) each get a folder of their own, in name order; one name on two clusters is one
    folder; every clip is written."""
    tmp, audio, rows = run
    names = ["a/b", "a:b", "A_B", "A_B", "frog", "noise"]
    named = [Assignment(r.path, r.offset, r.duration, c, r.distance, r.label, n)
             for r, c, n in zip(rows, [1, 2, 3, 4, 5, -1], names)]
    paths = write_cluster_folders(named, tmp / "out")
    root = tmp / "out" / "clusters"
    assert sorted(d.name for d in root.iterdir() if d.is_dir()) == ["A_B", "a_b~2", "a_b~3", "frog", "noise"]
    assert len(paths) == 6 and len(list((root / "A_B").iterdir())) == 2
    assert {p.parent.name for p in paths if p.parent.name.startswith("a_b")} == {"a_b~2", "a_b~3"}


def test_refuses_foreign_clusters_folder(run):
    tmp, audio, rows = run
    (tmp / "out" / "clusters").mkdir(parents=True)
    (tmp / "out" / "clusters" / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="not written by this export"):
        write_cluster_folders(rows, tmp / "out")
    assert (tmp / "out" / "clusters" / "mine.txt").read_text() == "keep"


def test_bad_rows(tmp_path):
    with pytest.raises(DataError, match="duration must be > 0"):
        Assignment("a.wav", 0.0, 0.0, 1, 0.1)
    with pytest.raises(DataError, match="cluster must be an integer >= -1"):
        Assignment("a.wav", 0.0, 1.0, -2, 0.1)
    with pytest.raises(DataError, match="nothing to export"):
        export_all([], tmp_path)
    p = tmp_path / "a.csv"
    p.write_text("path,offset\nx.wav,0\n")
    with pytest.raises(DataError, match="missing column"):
        read_assignments(p, 1.0)
