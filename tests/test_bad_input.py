"""A folder of broken and odd audio mixed with good clips: nothing crashes, every file is accounted for."""
import csv
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from audioclust.data.datamodule import AudioDataModule
from audioclust.errors import DataError
from conftest import chirp, noise, run_script, tone


def make_bad_corpus(root: Path) -> dict[str, str]:
    """Writes the corpus; returns {name: what it is}."""
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
    return {p.name: "" for p in root.iterdir()}


def test_datamodule_never_passes_nan_and_accounts_for_every_file(tmp_path):
    names = make_bad_corpus(tmp_path / "bad")
    dm = AudioDataModule(str(tmp_path / "bad"), sr=16000, clip_seconds=1.0)
    dm.setup()
    seen = {Path(p).name for p in dm.index.files} | {Path(p).name for p, _ in dm.index.skipped}
    assert seen == set(names)
    reasons = {Path(p).name: r for p, r in dm.index.skipped}
    for name in ("empty.wav", "truncated.wav", "random.mp3", "zero_length.wav", "broken_link.wav", "folder.wav"):
        assert name in reasons and reasons[name]
    for batch in dm.predict_dataloader():
        assert torch.isfinite(batch["wave"]).all() and batch["wave"].abs().max() <= 1
    with pytest.raises(DataError, match="strict"):
        AudioDataModule(str(tmp_path / "bad"), strict=True).setup()


@pytest.mark.slow
def test_train_and_cluster_over_a_messy_folder(tmp_path):
    names = make_bad_corpus(tmp_path / "bad")
    run = tmp_path / "run"
    p = run_script("train.py", "debug=default", "data=folder", f"data.root={tmp_path}/bad", "data.max_files=null",
                   "data.batch_size=4", "trainer.enable_progress_bar=false", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_script("cluster.py", f"run_dir={run}", "kmeans.k=3", f"hydra.run.dir={run}/fit",
                   "wandb.enabled=false")
    assert p.returncode == 0, p.stderr[-3000:]
    with open(run / "fit" / "assignments.csv", newline="") as f:
        placed = {Path(r["path"]).name for r in csv.DictReader(f)}
    with open(run / "fit" / "skipped.csv", newline="") as f:
        skipped = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(f)}
    assert placed | set(skipped) == set(names) and not placed & set(skipped)  # count in = count out
    assert "name with spaces ñ é 音.wav" in placed and "nan_inf.wav" in placed and all(skipped.values())
    assert np.isfinite(np.load(run / "fit" / "embeddings.npy")).all()
