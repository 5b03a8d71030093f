"""bench/recipes.py stays runnable: a tiny labelled folder gives a table with blockae, an encoder and the classics,
and a second run reuses the cached model and embeddings."""
import importlib.util
import re
import subprocess
import sys

from common_utils import ROOT, write_tone_folder

HAS_SPEECH = all(importlib.util.find_spec(m) is not None for m in ("openwakeword", "onnxruntime"))


def test_recipes_bench_writes_a_table_for_a_tiny_folder(tmp_path):
    clips = write_tone_folder(tmp_path)   # 3 classes x 4 clips
    out, runs = tmp_path / "r.md", tmp_path / "runs"

    def bench():
        p = subprocess.run([sys.executable, "bench/recipes.py", "--data", "folder", "--folder", str(clips), "--k", "3",
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
    assert (runs / "folder" / "blockae" / "model.pt").is_file()
    assert (runs / "folder" / "blockae" / "embeddings.npy").is_file()

    model = runs / "folder" / "blockae" / "model.pt"
    trained_at = model.stat().st_mtime_ns
    stdout, again = bench()   # every embedding (and the model) reused
    assert model.stat().st_mtime_ns == trained_at
    assert "folder/blockae: 12 clips" in stdout and "(cached)" in stdout
