"""bench/recipes.py stays runnable: a tiny labelled folder gives a table with blockae, an encoder and the classics,
and a second run reuses the cached model and embeddings."""
import re
import subprocess
import sys

import pytest
from common_utils import ROOT, write_tone_folder

from audioclust.embed.encoders import registry

HAS_SPEECH = registry.installed("speech")


def test_recipes_bench_writes_a_table_for_a_tiny_folder(tmp_path):
    """... and another folder (of the same name) gets its own model and embeddings, not the first one's."""
    clips = write_tone_folder(tmp_path)   # 3 classes x 4 clips
    out, runs = tmp_path / "r.md", tmp_path / "runs"

    def bench(folder=clips):
        p = subprocess.run([sys.executable, "bench/recipes.py", "--data", "folder", "--folder", str(folder), "--k", "3",
                            "--encoders", "speech", "--seeds", "0", "1", "--runs", str(runs), "--out", str(out),
                            "--train-override", "trainer.max_epochs=1", "data.batch_size=4"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        return p.stdout, out.read_text()

    stdout, text = bench()
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    expected = ["blockae", "blockae + umap", "classic: MFCC (20) mean+std"] + (["speech", "speech + umap"] if HAS_SPEECH else [])
    for name in expected:
        cells = re.findall(r"(\d\.\d\d) ± (\d\.\d\d) / (\d\.\d\d) ± (\d\.\d\d)", rows[name])
        assert len(cells) == 1 and all(0.0 <= float(v) <= 1.0 for v in cells[0]), rows[name]
    if not HAS_SPEECH:
        assert "skipping encoder=speech" in stdout and "speech" not in rows
    else:   # three distinct kinds of sound: the speech embedding separates them at least in part
        assert float(re.search(r"\| (\d\.\d\d) ±", rows["speech"]).group(1)) > 0.3
    assert "## Recipes x data sets" in text and "clips k=3: 12" in text and "Best by mean NMI" in text
    (cache,) = runs.glob("folders/clips-*/folder")
    assert (cache / "blockae" / "model.pt").is_file() and (cache / "blockae" / "embeddings.npy").is_file()

    model = cache / "blockae" / "model.pt"
    trained_at = model.stat().st_mtime_ns
    stdout, again = bench()   # every embedding (and the model) reused
    assert model.stat().st_mtime_ns == trained_at
    assert "folder/blockae: 12 clips" in stdout and "(cached)" in stdout
    other = write_tone_folder(tmp_path / "other")   # another folder named clips, with one clip less
    (other / "low" / "low_3.wav").unlink()
    stdout, _ = bench(other)
    assert "folder/blockae: 11 clips" in stdout and "(cached)" not in stdout
    assert len(list(runs.glob("folders/clips-*/folder/blockae/model.pt"))) == 2


def test_recipes_bench_reads_a_folder_whole_one_row_per_file(tmp_path):
    """--whole: files of 2.5 s read as data=folder reads them now (1 s windows to the end), each file one row of
    the table's clips (its windows pooled, as cluster.py clusters them), not one row per window."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(2.5 * 16000)) / 16000
    for i in range(7):   # 14 rows: enough for UMAP's 10-d layout
        for name, x in (("tone", 0.3 * np.sin(2 * np.pi * (300 + 20 * i) * t)), ("noise", 0.1 * rng.normal(size=len(t)))):
            (tmp_path / "clips" / name).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "clips" / name / f"{name}_{i}.wav", x.astype(np.float32), 16000)
    out, runs = tmp_path / "r.md", tmp_path / "runs"
    p = subprocess.run([sys.executable, "bench/recipes.py", "--data", "folder", "--folder", str(tmp_path / "clips"),
                        "--k", "2", "--whole", "--encoders", "--seeds", "0", "--runs", str(runs), "--out", str(out),
                        "--train-override", "trainer.max_epochs=1", "data.batch_size=4"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    text = out.read_text()
    assert "clips k=2: 14" in text and "each file one row" in text, text[:2000]   # not 42 windows
    assert "folder/blockae: 14 clips" in p.stdout
    (config,) = runs.glob("folders/clips-*/folder/blockae/run_config.yaml")
    assert "hop_seconds: 1.0" in config.read_text()   # windows to the end


@pytest.mark.slow
def test_recipes_bench_scores_a_separable_set_high_and_a_shuffled_one_near_zero(tmp_path):
    """The table's scores say something: 3 kinds of sound in their own folders score NMI > 0.9 with the classic
    MFCC baseline; the same 12 clips with folders that mix the kinds evenly (2 of each in 2 folders: the labels say
    nothing of the sound) score < 0.1."""
    import json

    import numpy as np
    import soundfile as sf

    separable = write_tone_folder(tmp_path / "separable")
    for path in separable.glob("*/*.wav"):   # <kind>_<i>.wav: clips 0, 1 of each kind in folder a, 2, 3 in b
        folder = tmp_path / "shuffled" / "ab"[int(path.stem[-1]) // 2]
        folder.mkdir(parents=True, exist_ok=True)
        x, sr = sf.read(path, dtype="float32")
        sf.write(folder / path.name, x, sr)
    nmi = {}
    for name in ("separable", "shuffled"):
        folder = separable if name == "separable" else tmp_path / "shuffled"
        assert len(list(folder.glob("*/*.wav"))) == 12
        results = tmp_path / f"{name}.json"
        p = subprocess.run([sys.executable, "bench/recipes.py", "--data", "folder", "--folder", str(folder), "--k", "3",
                            "--no-blockae", "--encoders", "--seeds", "0", "1", "--runs", str(tmp_path / "runs"),
                            "--out", str(tmp_path / f"{name}.md"), "--results", str(results)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        (cell,) = json.loads(results.read_text())["classic: MFCC (20) mean+std"].values()
        nmi[name] = np.asarray(cell["nmi"])[0]
    assert nmi["separable"] > 0.9 and nmi["shuffled"] < 0.1, nmi
