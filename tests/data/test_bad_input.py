"""A folder of broken and odd audio mixed with good clips: nothing crashes, every file is accounted for.

Every entry of the corpus has an expected outcome: assigned to a cluster, or skipped with a given reason.
`unreadable.wav` is mode 000; root ignores file modes, so when the tests run as root the scripts run under
`setpriv` without CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, which makes the mode count again.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from common_utils import chirp, noise, run_script, tone

from audioclust.data.datamodule import AudioDataModule
from audioclust.errors import DataError

GOOD = [f"good_tone_{i}.wav" for i in range(6)] + [f"good_chirp_{i}.flac" for i in range(6)]
# name -> None (decoded and clustered) or the start of the one-line skip reason
EXPECTED = {
    "empty.wav": "empty file",
    "truncated.wav": "not readable audio",
    "random.mp3": "not readable audio",
    "zero_length.wav": "no audio samples",
    "one_sample.wav": None,
    "very_long.wav": None,            # 30 s, cropped to the 1 s clip length
    "eight_channels.wav": None,       # mixed to mono
    "low_rate.wav": None,             # 400 Hz, resampled up
    "high_rate.wav": None,            # 192 kHz, resampled down
    "nan_inf.wav": None,              # float WAV; NaN/Inf become 0 before anything else
    "silent.wav": None,
    "name with spaces ñ é 音.wav": None,
    "unreadable.wav": "permission denied",
    "broken_link.wav": "missing file",
    "folder.wav": "is a directory",
    "fifo.wav": "not a regular file",  # opening it would block forever
    **{g: None for g in GOOD},
}
DROP_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search")


def unprivileged() -> tuple | None:
    """A command prefix under which mode-000 files cannot be read (None: there is none on this machine)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") and subprocess.run([*DROP_DAC, "true"], capture_output=True).returncode == 0:
        return DROP_DAC
    return None


def make_bad_corpus(root: Path) -> dict[str, str | None]:
    """Writes the corpus; returns {name: expected skip reason or None}."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        sf.write(root / f"good_tone_{i}.wav", tone(300 + 50 * i), 16000)
        sf.write(root / f"good_chirp_{i}.flac", chirp(200, 3000 + 100 * i), 16000)
    (root / "empty.wav").write_bytes(b"")
    sf.write(root / "full.wav", tone(440), 16000)
    (root / "truncated.wav").write_bytes((root / "full.wav").read_bytes()[:30])
    (root / "full.wav").unlink()
    (root / "random.mp3").write_bytes(np.random.default_rng(0).bytes(4096))
    sf.write(root / "zero_length.wav", np.zeros(0, np.float32), 16000)
    sf.write(root / "one_sample.wav", np.array([0.5], np.float32), 16000)
    sf.write(root / "very_long.wav", chirp(100, 4000, seconds=30.0), 16000)
    sf.write(root / "eight_channels.wav", np.tile(tone(500)[:, None], (1, 8)), 16000)
    sf.write(root / "low_rate.wav", tone(100, sr=400), 400)
    sf.write(root / "high_rate.wav", tone(1000, sr=192000), 192000)
    bad = noise(1)
    bad[::100], bad[1::100], bad[2::100] = np.nan, np.inf, -np.inf
    sf.write(root / "nan_inf.wav", bad, 16000, subtype="FLOAT")
    sf.write(root / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(root / "name with spaces ñ é 音.wav", tone(700), 16000)
    sf.write(root / "unreadable.wav", tone(800), 16000)
    os.chmod(root / "unreadable.wav", 0)
    os.symlink(root / "does_not_exist.wav", root / "broken_link.wav")
    (root / "folder.wav").mkdir()
    os.mkfifo(root / "fifo.wav")
    assert {p.name for p in root.iterdir()} == set(EXPECTED)
    return dict(EXPECTED)


def test_nan_inf_and_bad_files_never_reach_a_batch(tmp_path):
    names = make_bad_corpus(tmp_path / "bad")
    with open(tmp_path / "bad" / "nan_inf.wav", "rb"):
        assert not np.isfinite(sf.read(tmp_path / "bad" / "nan_inf.wav")[0]).all()  # the file really has them
    dm = AudioDataModule(str(tmp_path / "bad"), sr=16000, clip_seconds=1.0, batch_size=8)
    dm.setup()
    seen = [Path(p).name for p in dm.index.files] + [Path(p).name for p, _ in dm.index.skipped]
    assert sorted(seen) == sorted(names)  # each file exactly once
    reasons = {Path(p).name: r for p, r in dm.index.skipped}
    for name, want in names.items():
        if want and name != "unreadable.wav":  # root reads mode-000 files in-process; see the next tests
            assert reasons[name].startswith(want) and "\n" not in reasons[name], (name, reasons.get(name))
    n_ok = 0
    for batch in dm.predict_dataloader():
        assert torch.isfinite(batch["wave"]).all() and batch["wave"].abs().max() <= 1
        n_ok += int(batch["ok"].sum())
    assert n_ok == len(dm.index)


def test_unreadable_file_is_skipped_for_an_unprivileged_reader(tmp_path):
    prefix = unprivileged()
    if prefix is None:
        pytest.skip("running as root without setpriv: a mode-000 file is readable here")
    sf.write(tmp_path / "unreadable.wav", tone(800), 16000)
    os.chmod(tmp_path / "unreadable.wav", 0)
    code = ("from audioclust.data.audio import probe\nimport sys\n"
            "try: probe(sys.argv[1])\nexcept Exception as e: print(type(e).__name__, e)")
    p = subprocess.run([*prefix, sys.executable, "-c", code, str(tmp_path / "unreadable.wav")],
                       capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert p.stdout.strip() == "DataError permission denied", p.stderr[-2000:]


def test_strict_names_the_first_bad_file(tmp_path):
    make_bad_corpus(tmp_path / "bad")
    with pytest.raises(DataError, match=r"broken_link\.wav: missing file .*data\.strict=true"):
        AudioDataModule(str(tmp_path / "bad"), strict=True).setup()


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_train_and_cluster_over_a_messy_folder(tmp_path):
    prefix = unprivileged()
    names = make_bad_corpus(tmp_path / "bad")
    if prefix is None:  # as root without setpriv the mode-000 file is readable, and so it is clustered
        names["unreadable.wav"] = None
    run = tmp_path / "run"
    common = ("data=folder", f"data.root={tmp_path}/bad", "data.max_files=null", "threads=1")
    p = run_script("train.py", "debug=default", *common, "data.batch_size=4", "trainer.enable_progress_bar=false",
                   f"hydra.run.dir={run}", prefix=prefix or ())
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_script("cluster.py", f"run_dir={run}", "kmeans.k=3", f"hydra.run.dir={run}/fit", "threads=1",
                   "wandb.enabled=false", "report.plots=false", prefix=prefix or ())
    assert p.returncode == 0, p.stderr[-3000:]
    placed = {Path(r["path"]).name: r["cluster"] for r in _rows(run / "fit" / "assignments.csv")}
    skipped = {Path(r["path"]).name: r["reason"] for r in _rows(run / "fit" / "skipped.csv")}
    assert len(placed) + len(skipped) == len(names) and set(placed) | set(skipped) == set(names)  # in = out
    for name, want in names.items():
        if want is None:
            assert name in placed, (name, skipped.get(name))
        else:
            assert skipped[name].startswith(want) and "\n" not in skipped[name], (name, skipped.get(name))
    assert np.isfinite(np.load(run / "fit" / "embeddings.npy")).all()
    metrics = json.loads((run / "fit" / "metrics.json").read_text())
    assert metrics["n_files"] == len(names) and metrics["n_skipped"] == len(skipped)
    print("\nbad-input outcomes:\n" + "\n".join(
        f"  {n!r}: " + (f"cluster {placed[n]}" if n in placed else f"skipped ({skipped[n]})") for n in sorted(names)))
    # data.strict=true: the same folder is an error naming a file, exit 2, before any training
    p = run_script("train.py", "debug=default", *common, "data.strict=true", f"hydra.run.dir={tmp_path}/strict",
                   prefix=prefix or ())
    assert p.returncode == 2 and "broken_link.wav: missing file" in p.stderr and "Traceback" not in p.stderr, \
        p.stderr[-2000:]
    assert not (tmp_path / "strict" / "checkpoints").exists()


def test_a_garbled_libsndfile_error_is_read_again(tmp_path, monkeypatch):
    """Probed in parallel threads, libsndfile's one global error can be cleared by another open: soundfile then
    reports error 0, '(Garbled error message from libsndfile)'. The header is read again for the real reason."""
    from audioclust.data import audio
    from audioclust.errors import DataError

    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    real, calls = sf.info, []

    def racing(path):
        calls.append(path)
        if len(calls) == 1:
            raise sf.LibsndfileError(0, prefix=f"Error opening {path!r}: ")
        return real(path)

    monkeypatch.setattr(audio.sf, "info", racing)
    with pytest.raises(DataError) as err:
        audio.probe(junk)
    assert len(calls) == 2 and "Garbled" not in str(err.value)
    assert str(err.value).startswith("not readable audio: ")


def test_a_lost_reason_is_read_again_with_no_other_header_read_in_flight():
    """The re-read of a file whose reason was lost waits for the header reads in flight and keeps new ones out until
    it is done (one libsndfile open at a time then), so no other open can clear its error again. The threads are
    ordered by events: each next one starts once the previous one waits on the lock."""
    import threading

    from audioclust.data.audio import _SharedOrAlone

    lock, log = _SharedOrAlone(), []
    waits = {name: threading.Event() for name in ("a", "alone", "b")}
    release_a = threading.Event()

    class Watched(threading.Condition):
        def wait_for(self, predicate, timeout=None):   # called holding the lock, just before the thread waits on it
            waits[threading.current_thread().name].set()
            return super().wait_for(predicate, timeout)

    lock._cond = Watched()

    def shared(name):
        with lock.shared():
            log.append(f"{name}+")
            if name == "a":
                release_a.wait()   # a header read in flight until the others wait
            log.append(f"{name}-")

    def alone():
        with lock.alone():
            log.append("alone+")
            log.append("alone-")

    first = threading.Thread(target=shared, args=("a",), name="a")
    first.start()
    waits["a"].wait()
    again = threading.Thread(target=alone, name="alone")
    again.start()
    waits["alone"].wait()   # the re-read waits for "a" to leave
    late = threading.Thread(target=shared, args=("b",), name="b")   # arrives while the re-read waits: goes after it
    late.start()
    waits["b"].wait()
    release_a.set()
    for t in (first, again, late):
        t.join(60)   # a guard against a hang only: the order above does not depend on it
        assert not t.is_alive()
    assert log == ["a+", "a-", "alone+", "alone-", "b+", "b-"], log
