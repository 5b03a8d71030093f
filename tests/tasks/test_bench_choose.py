"""bench/choose_encoder.py on a small cache of two made-up encoders: one separates the classes, one is noise;
both label-free criteria pick the one that separates them, and the table says so."""
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
    for enc, x in (("blockae", noise), ("speaker", good)):
        d = tmp_path / "drums" / enc
        d.mkdir(parents=True)
        np.save(d / "embeddings.npy", x)
        (d / "meta.json").write_text(json.dumps({"paths": paths}))
    out = tmp_path / "choose.md"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "choose_encoder.py"), "--runs", str(tmp_path),
                        "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    row = next(line for line in out.read_text().splitlines() if line.startswith("| drums class"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1].startswith("speaker") and cells[2].startswith("speaker") and cells[3].startswith("speaker")
    assert "Picked the best: silhouette in UMAP space 1/1, cosine silhouette 1/1" in out.read_text()
