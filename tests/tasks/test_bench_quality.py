"""bench/quality.py stays runnable: its classic features behave, and a tiny run writes a real table."""
import re
import subprocess
import sys

import numpy as np
import pytest
from common_utils import ROOT, tone

sys.path.insert(0, str(ROOT / "bench"))
import baselines  # noqa: E402


def _clips():
    """Three kinds of 0.5 s sound: a low then a high tone, the same tones the other way round, one steady tone."""
    sr = 8000

    def seq(a, b, i):
        return np.concatenate([tone(a + 20 * i, sr, 0.25), tone(b + 20 * i, sr, 0.25)])

    clips = [seq(400, 2500, i) for i in range(6)] + [seq(2500, 400, i) for i in range(6)]
    clips += [seq(1200, 1200, i) for i in range(6)]
    return clips, ["rise"] * 6 + ["fall"] * 6 + ["steady"] * 6, sr


@pytest.mark.parametrize("feature", [baselines.mfcc_aligned, baselines.logmel_fixed])
def test_time_aware_features_separate_order_of_events(feature):
    clips, labels, sr = _clips()
    x = feature(clips, sr)
    assert x.shape[0] == len(clips) and np.isfinite(x).all()
    scores = baselines.cluster_scores(x, labels, 3, seeds=[0])
    assert scores[0]["acc"] == 1.0 and scores[0]["nmi"] > 0.99


def test_mfcc_statistics_ignore_the_order_of_events():
    clips, _, sr = _clips()
    x = baselines.mfcc_stats(clips, sr)
    rise, fall, steady = x[:6], x[6:12], x[12:]
    assert np.abs(rise - fall).max() < 0.2 * np.abs(rise - steady).max()


def test_chance_scores_are_near_zero_nmi():
    labels = [str(i % 10) for i in range(2000)]
    s = baselines.chance_scores(labels, 10, seeds=[0, 1])
    assert all(v["nmi"] < 0.02 and v["acc"] < 0.15 for v in s)


@pytest.mark.slow
def test_quality_bench_writes_a_table_for_a_tiny_synthetic_run(tmp_path):
    out = tmp_path / "q.md"

    def bench(*flags):
        p = subprocess.run([sys.executable, "bench/quality.py", "--data", "synthetic", "--max-files", "60",
                            "--configs", "demo", "--seeds", "0", "1", "--no-baselines", "--out", str(out),
                            "--runs", str(tmp_path / "runs"), *flags], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, p.stderr[-3000:]
        return next(line for line in out.read_text().splitlines() if line.startswith("| audioclust `demo`"))

    row = bench()
    assert "model reused" not in row
    model = next((tmp_path / "runs").rglob("model.pt"))
    trained_at = model.stat().st_mtime_ns
    assert "model reused" in bench()                  # a second run reuses the trained model and says so
    assert model.stat().st_mtime_ns == trained_at
    assert "model reused" not in bench("--retrain")   # --retrain trains it anew
    assert model.stat().st_mtime_ns != trained_at
    cells = re.findall(r"(\d\.\d{3}) ± (\d\.\d{3})", row)
    assert len(cells) == 3 and all(0.0 <= float(m) <= 1.0 for m, _ in cells)  # class ACC, NMI, ARI
    assert float(cells[0][0]) > 0.2  # 20 synthetic classes: far above chance (0.05) after training
    assert "60 clips" in out.read_text()


def test_whole_bench_scores_each_file_by_the_cluster_most_of_its_windows_fell_in(tmp_path):
    import quality

    rows = ["path,offset,cluster,distance,label",
            "a.wav,0.0,0,0.1,x", "a.wav,1.0,1,0.1,x", "a.wav,2.0,0,0.1,x",   # 2 of 3 windows in cluster 0
            "b.wav,0.0,1,0.1,y", "c.wav,1.0,1,0.1,y", "c.wav,0.0,0,0.1,y"]   # a tie: the earliest window's
    (tmp_path / "assignments.csv").write_text("\n".join(rows) + "\n")
    s = quality.file_scores(tmp_path / "assignments.csv")
    assert s["files"] == ["a.wav", "b.wav", "c.wav"]
    assert s["acc"] == pytest.approx(2 / 3)   # a -> 0 (x), b -> 1 (y), c -> 0: one of the y files misplaced


def test_whole_table_takes_its_section_title_and_records_the_command(monkeypatch):
    import quality

    monkeypatch.setattr(sys, "argv", ["quality.py", "--whole", "--data", "sfx", "--title", "Whole clips: sfx"])
    text = quality.whole_table({}, [0, 1], "Whole clips: sfx")
    assert text.startswith("## Whole clips: sfx\n") and "`python bench/quality.py --whole --data sfx --title " \
        "'Whole clips: sfx'`" in text and "k-means seeds [0, 1]" in text
