"""bench/detector.py --cluster's scoring: which placed clip a window is labelled with, and the cluster scores."""
import sys

import numpy as np
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from detector import BASE_DB, SR, cluster_scores, level_swing_db, real_background, window_labels  # noqa: E402

TRUTH = [(2.0, 2.6, "digit", "digit 3"), (3.0, 3.05, "drum", "kick"), (10.0, 10.5, "digit", "digit 7")]


def test_a_window_takes_the_clip_it_overlaps_most_when_the_overlap_is_enough():
    labels, ids = window_labels([0.0, 1.5, 2.4, 2.9, 3.04, 9.05, 9.6, 20.0], 1.0, TRUTH)
    # 1.5-2.5 holds 0.5 s of digit 3; 2.4-3.4 holds 0.2 s of it and the whole 50 ms kick: digit 3 overlaps most;
    # 2.9-3.9: the kick alone (50 ms >= half of it); 3.04-4.04 holds 10 ms of the kick (< half of it);
    # 9.05-10.05 holds 50 ms of digit 7 (< 0.1 s); 9.6-10.6: 0.5 s of it
    assert labels == ["background", "digit 3", "digit 3", "kick", "background", "background", "digit 7",
                      "background"]
    assert ids.tolist() == [-1, 0, 0, 1, -1, -1, 2, -1]
    assert window_labels([0.0], 1.0, [])[0] == ["background"]


def test_cluster_scores_all_windows_events_only_and_background_clusters():
    y = ["background"] * 6 + ["a"] * 3 + ["b"] * 3
    perfect = np.array([0] * 6 + [1] * 3 + [2] * 3)
    s = cluster_scores(y, perfect)
    assert s["windows"] == 12 and s["event_windows"] == 6
    assert s["nmi"] == 1.0 and s["acc"] == 1.0 and s["nmi_ev"] == 1.0 and s["acc_ev"] == 1.0
    assert abs(s["bg_clusters"] - 1 / 3) < 1e-9
    # background split over two clusters, events all in one: events unresolved, 2 of 3 clusters background
    s = cluster_scores(y, np.array([0] * 3 + [1] * 3 + [2] * 6))
    assert s["nmi_ev"] == 0.0 and s["acc_ev"] == 0.5 and abs(s["bg_clusters"] - 2 / 3) < 1e-9


def test_real_background_is_stretches_of_the_recordings_at_the_set_level():
    t = np.arange(5 * SR) / SR
    waves = [0.3 * np.sin(2 * np.pi * 300 * t[: 3 * SR]), 0.01 * np.sin(2 * np.pi * 1000 * t)]
    x = real_background(12 * SR, np.random.default_rng(0), waves)
    assert len(x) == 12 * SR
    assert abs(20 * np.log10(np.sqrt(np.mean(x ** 2))) - BASE_DB) < 0.01   # the whole at BASE_DB dBFS
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    near = (np.abs(f - 300) < 20) | (np.abs(f - 1000) < 20)
    assert spec[near].sum() / spec.sum() > 0.98   # nothing but the recordings' own sound (crossfades aside)
    for a in range(0, len(x) - SR, SR):   # each stretch brought to the same RMS: no 30 dB jumps between them
        rms = np.sqrt(np.mean(x[a: a + SR] ** 2))
        assert abs(20 * np.log10(rms) - BASE_DB) < 3


def test_level_swing_tells_steady_background_from_bursts():
    rng = np.random.default_rng(1)
    steady = 0.01 * rng.standard_normal(10 * SR)
    bursts = steady.copy()
    for a in range(0, 10 * SR, 2 * SR):   # a loud call every other second
        bursts[a: a + SR] *= 30
    assert level_swing_db(steady) < 0.5 and level_swing_db(bursts) > 10
