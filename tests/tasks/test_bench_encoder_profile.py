"""bench/encoder_profile.py: speech-windows, the speech adapter's route before 2026-12-07, really is another route
(the shipped graph of 76-frame windows, one input per window) and gives the same rows as now's (each clip's whole
mel sequence through the reshaped graph); the table says so."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from common_utils import ROOT
from common_utils.audio import write_tone_folder

sys.path.insert(0, str(ROOT / "bench"))
import encoder_profile as bench  # noqa: E402


def test_speech_windows_is_the_route_before_with_the_same_rows(tmp_path, monkeypatch):
    if any(importlib.util.find_spec(m) is None for m in ("openwakeword", "onnxruntime", "onnx")):
        pytest.skip("encoder=speech needs its extra: pip install 'audioclust[speech]'")
    from audioclust.embed.encoders import speech

    inputs = []   # the time axis of every input the embedding model gets
    own, frames = speech.SpeechEmbeddingEncoder.build_runtime, speech.SpeechEmbeddingEncoder.frames

    def watched(self):
        sessions = own(self)
        run = sessions.embedding.run
        model = type("Watched", (), {"get_providers": sessions.embedding.get_providers,
                                     "run": lambda _, out, feed: inputs.append(feed["input_1"].shape[1]) or run(out, feed)})()
        return speech.Sessions(sessions.mel, model)

    monkeypatch.setattr(speech.SpeechEmbeddingEncoder, "build_runtime", watched)
    files = sorted(str(p) for p in write_tone_folder(tmp_path).rglob("*.wav"))[:4]   # 1 s each
    now = {"clips": bench.measure("speech", files, 4.0)}
    assert inputs and set(inputs) != {speech.WINDOW}   # whole sequences (~2 s of mel frames each)
    inputs.clear()
    before = {"clips": bench.measure("speech-windows", files, 4.0)}
    assert set(inputs) == {speech.WINDOW}   # every window on its own
    assert speech.SpeechEmbeddingEncoder.frames is frames   # put back when the route ends
    np.testing.assert_array_equal(before["clips"]["vectors"], now["clips"]["vectors"])
    args = type("Args", (), {"threads": 1, "encoders": ["speech", "speech-windows"], "clips": 4, "long_seconds": 120.0})
    text = bench.table({"speech": now, "speech-windows": before}, args)
    assert "| speech-windows | clips | 4 | 4.0 |" in text and "| the same bytes |" in text
