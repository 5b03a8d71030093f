"""bench/choose_encoder.py on a small cache of two made-up encoders: one separates the classes, one is noise;
stability (encoder=auto's criterion) picks the one that separates them, with and without UMAP, and the table
says so."""
import json
import subprocess
import sys

import numpy as np
from common_utils import ROOT


def test_choose_encoder_picks_the_separating_embedding(tmp_path):
    rng = np.random.default_rng(0)
    classes = [f"c{i}" for i in range(10)]
    paths = [f"/x/{c}/{c}_{j}.wav" for c in classes for j in range(12)]
    centres = rng.normal(scale=8, size=(10, 16))
    good = (centres[np.repeat(np.arange(10), 12)] + rng.normal(size=(120, 16))).astype(np.float32)
    noise = rng.normal(size=(120, 16)).astype(np.float32)
    for enc, x in (("aisfx", noise), ("speaker", good)):
        d = tmp_path / "drums" / enc
        d.mkdir(parents=True)
        np.save(d / "embeddings.npy", x)
        (d / "meta.json").write_text(json.dumps({"paths": paths}))
    for judge in ("none", "run"):   # auto.yaml's (k-means alone), and each run's own reducer
        out = tmp_path / f"choose-{judge}.md"
        p = subprocess.run([sys.executable, str(ROOT / "bench" / "choose_encoder.py"), "--runs", str(tmp_path), "--judge",
                            judge, "--seeds", "0", "1", "--pairs", "2", "--out", str(out)], capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        row = next(line for line in out.read_text().splitlines() if line.startswith("| drums class"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1].split()[0] == cells[3].split()[0] == "speaker"   # the best, k-means alone and with UMAP
        assert cells[2].startswith("speaker x2: 2/2 within 0.01") and cells[4].startswith("speaker x2: 2/2 within 0.01")
        judged = cells[5].split("; ")
        assert len(judged) == (2 if judge == "run" else 1)
        for stab in judged:
            stab = dict(item.split() for item in stab.split(", "))
            assert float(stab["speaker"]) > 0.9 > float(stab["aisfx"]) + 0.3
        assert "Runs whose pick is within 0.01 NMI of the best: 2/2 with k-means alone, 2/2 with `reduce.method=umap`" in out.read_text()


def test_combinations_from_bench_combines_cache_are_candidates_too(tmp_path):
    """--combine-cache (bench/combine.py's <set>/<encoder>.npy and .json) --combinations: the two encoders side by
    side and their consensus are scored as candidates beside each encoder."""
    rng = np.random.default_rng(1)
    paths = [f"/x/c{i}/c{i}_{j}.wav" for i in range(4) for j in range(15)]
    y = np.repeat(np.arange(4), 15)
    good = (rng.normal(scale=8, size=(4, 8))[y] + rng.normal(size=(60, 8))).astype(np.float32)
    (tmp_path / "kits").mkdir()
    for enc, x in (("aisfx", rng.normal(size=(60, 8)).astype(np.float32)), ("speaker", good)):
        np.save(tmp_path / "kits" / f"{enc}.npy", x)
        (tmp_path / "kits" / f"{enc}.json").write_text(json.dumps({"path": paths}))
    out = tmp_path / "choose.md"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "choose_encoder.py"), "--combine-cache", str(tmp_path),
                        "--combinations", "--data", "kits", "--encoders", "aisfx", "speaker", "--seeds", "0", "--pairs", "2",
                        "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    row = next(line for line in out.read_text().splitlines() if line.startswith("| kits class"))
    stab = [c.strip() for c in row.strip("|").split("|")][5]
    assert [item.rsplit(" ", 1)[0] for item in stab.split(", ")] == ["aisfx", "speaker", "side by side", "consensus"]
    assert "within 0.01 NMI of the best" in out.read_text() and "--combinations" in out.read_text()
