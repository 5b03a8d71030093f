"""The one object that says how a file becomes rows (audioclust/data/windowing.py): checked when made, resolved from
a folder's durations, the rules every stage reads, recorded and restored as encoder.json keeps it."""
import dataclasses
import json

import numpy as np
import pytest

from audioclust.data.segment import SegmentConfig
from audioclust.data.windowing import Windowing
from audioclust.errors import ConfigError


def test_frozen_and_checked_when_made():
    w = Windowing(1, 0.5, 30, "equal")
    assert (w.clip_seconds, w.hop_seconds, w.pool_windows_up_to) == (1.0, 0.5, 30.0)   # numbers as floats
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.clip_seconds = 2.0
    for bad, msg in ((dict(clip_seconds=0), "data.clip_seconds must be a number > 0 or auto, got 0"),
                     (dict(hop_seconds="x"), "data.hop_seconds must be null, a number > 0 or auto, got 'x'"),
                     (dict(pool_weights="loudest"), "unknown data.pool_weights='loudest': use one of power, equal"),
                     (dict(segment={"nope": 1}), "unknown data.segment key(s) nope"),
                     (dict(clip_seconds=1.0, hop_seconds=2.0, segment={}), "must be <= data.clip_seconds (1)")):
        with pytest.raises(ConfigError) as err:
            Windowing(**bad)
        assert msg in str(err.value)


def test_resolved_from_the_folder_and_said_once():
    auto = Windowing("auto", "auto", 30.0)
    assert not auto.resolved_now
    with pytest.raises(ValueError):   # no rule runs on an unresolved windowing
        auto.offsets(3.0)
    chosen = auto.resolved([0.6] * 5 + [0.8] * 5 + [3.0])
    assert chosen.windowing == Windowing(0.8, 0.8, 30.0) and chosen.windowing.resolved_now
    assert chosen.line.startswith("clip length: 0.8 s (auto: 90th percentile of 11 file durations")
    assert "1 of 11 files are longer than 0.8 s" in chosen.line
    given = Windowing(1.0, None)
    assert given.resolved([5.0]) == type(chosen)(given, None)   # nothing auto: nothing to say


def test_the_rules_rows_read():
    w = Windowing(1.0, 1.0, 10.0)
    assert w.offsets(0.5) == [0.0] and Windowing(1.0, None).offsets(3.2) == [0.0]
    assert w.offsets(3.2) == pytest.approx([0.0, 1.0, 2.0, 2.2])   # the tail window ends at the file's end
    durations = [0.5, 4.0, 40.0]
    assert w.pooled(durations).tolist() == [True, True, False]
    # a pooled file's row stands for the whole file, a long recording's rows for one clip each
    np.testing.assert_allclose(w.row_seconds(durations, [0, 1, 2, 2]), [0.5, 4.0, 1.0, 1.0])
    assert w.window_rows(durations) and not w.window_rows([0.5, 4.0]) and not Windowing(1.0, None).window_rows([40.0])
    power = np.array([1.0, 2.0])
    assert w.weights(power) is power and Windowing(pool_weights="equal").weights(power) is None
    # with a detector: windows centred on short events, every hop across long ones, none past the end
    assert Windowing(1.0, 0.5).event_offsets([(2.0, 2.4), (5.0, 6.6)], 6.8) == pytest.approx([1.7, 5.0, 5.5, 5.6])


def test_the_encoders_native_length_cuts_pooled_files_and_centres_the_other_rows():
    w = Windowing(1.0, 1.0, 10.0, native_seconds=3.0)   # BirdNET's 3 s beside 1 s rows
    assert w.read_seconds == 3.0 and w.native_line().startswith("windows: the encoder takes 3 s: a file up to 10 s read")
    # a file pooled into one row: 3 s windows (the last one ending at the file's end), each read from its start
    assert w.offsets(0.5) == [0.0] and w.offsets(4.0) == pytest.approx([0.0, 1.0]) and w.offsets(7.0) == pytest.approx([0.0, 3.0, 4.0])
    assert [w.read_start(t, 7.0) for t in w.offsets(7.0)] == pytest.approx([0.0, 3.0, 4.0])
    # a longer recording keeps its 1 s rows, each read with the 3 s around it, moved inside the file at its ends
    assert w.offsets(40.0) == Windowing(1.0, 1.0, 10.0).offsets(40.0) == pytest.approx(list(range(40)))
    assert [w.read_start(t, 40.0) for t in (0.0, 10.0, 39.0)] == pytest.approx([0.0, 9.0, 37.0])
    assert w.row_seconds([7.0, 40.0], [0, 1]).tolist() == [7.0, 1.0]   # what a row stands for: unchanged
    # with a detector every window keeps its place and is read centred; hop=None: a pooled file's first 3 s
    detector = Windowing(1.0, 0.5, 10.0, segment={}, native_seconds=3.0)
    assert detector.event_offsets([(2.0, 2.4)], 6.8) == pytest.approx([1.7])
    assert not detector.cut_native(6.8) and detector.read_start(1.7, 6.8) == pytest.approx(0.7)
    assert Windowing(1.0, None, 10.0, native_seconds=3.0).offsets(7.0) == [0.0]
    # no longer than a clip, 0 or None: the run's windows alone, read as they are
    for same in (Windowing(3.0, 3.0, 10.0, native_seconds=2.0), Windowing(1.0, 1.0, 10.0, native_seconds=0)):
        assert same.read_seconds == same.clip_seconds and same.native_line() is None
        assert same.offsets(7.0) == Windowing(same.clip_seconds, same.clip_seconds, 10.0).offsets(7.0)
        assert same.read_start(2.0, 40.0) == 2.0
    assert Windowing(native_seconds=0).native_seconds is None
    with pytest.raises(ConfigError, match="data.native_seconds must be"):
        Windowing(native_seconds=-1)


def test_recorded_and_restored_as_encoder_json_keeps_it():
    w = Windowing(2.0, 1.0, None, "equal", SegmentConfig(threshold_db=9.0))
    record = json.loads(json.dumps(w.record()))   # plain JSON
    assert record["segment"]["threshold_db"] == 9.0 and record["pool_windows_up_to"] is None
    assert Windowing.from_record(record) == w and "native_seconds" not in record   # a record as before it
    native = Windowing(1.0, 1.0, 30.0, native_seconds=3.0)
    assert native.record()["native_seconds"] == 3.0 and Windowing.from_record(native.record()) == native
    assert Windowing.of({"clip_seconds": 2.0, "sr": 16000, "batch_size": 8}) == Windowing(2.0)   # other keys ignored
