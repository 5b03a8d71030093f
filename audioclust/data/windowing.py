"""How a file becomes rows: one frozen value that the data index owns (`Index.windowing`), that every stage reads
(the dataset cuts its clips, embedding pools a file's windows, the report and exports say what a row stands for)
and that a fit records in its encoder.json (`record()`, restored by `from_record()` for mode=assign).

    Windowing(clip_seconds=1.0, hop_seconds="auto", pool_windows_up_to=30.0, pool_weights="power", segment=None,
              native_seconds=None)

- clip_seconds: the window length; "auto": from the folder's file durations (`resolved()`).
- hop_seconds: a file longer than a clip is cut into windows every hop seconds, the last one ending at the file's
  end (nothing dropped); "auto": every clip length; None: each file's first clip only.
- pool_windows_up_to: a file up to this long is one row, the mean of its windows' embeddings, each weighted by
  pool_weights (power: its signal power | equal); a longer recording is one row per window. None: every window
  is a row.
- segment: an activity detector (data/segment.py SegmentConfig): windows only at its sound events.
- native_seconds: an encoder's own input length (e.g. BirdNET's 3 s; 0 or None, the default: the run's windows
  only). Where it is longer than a clip, a file pooled into one row is cut into windows of that length instead (one
  model call where there were up to native / clip), and every other row (a window of a longer recording, an
  event's) keeps its place and length but is read with the audio around it, a native window centred on it
  (`read_start`), moved inside the file at its ends. Rows stay the run's windows.
Changing how files are cut into rows changes this module only.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from audioclust import checks
from audioclust.errors import ConfigError

# clip_seconds=auto: this percentile of the folder's file durations, rounded up to 0.1 s, clamped to [min, max]
AUTO_PERCENTILE, AUTO_MIN_SECONDS, AUTO_MAX_SECONDS = 90, 0.5, 10.0
POOL_WEIGHTS = ("power", "equal")   # a pooled file's mean: each window by its signal power, or alike
FIELDS = ("clip_seconds", "hop_seconds", "pool_windows_up_to", "pool_weights", "segment", "native_seconds")


def auto_clip_seconds(durations) -> float:
    """The clip length for a folder whose files last `durations` seconds: the 90th percentile, rounded up to
    0.1 s, clamped to [0.5, 10] s. Nine files in ten fit whole, the longest tenth (decays, tails, a few long
    takes) are cut after their start, where a one-shot's character is; the maximum would let one long outlier
    make every clip mostly padding (and each epoch that many times slower). 0.5 s: the default front end's
    smallest spectrogram that holds a block; 10 s: beyond that, window long recordings (hop_seconds)."""
    d = np.asarray(durations, dtype=float)
    p = float(np.percentile(d, AUTO_PERCENTILE)) if d.size else AUTO_MIN_SECONDS
    return float(min(max(math.ceil(round(p * 10, 6)) / 10, AUTO_MIN_SECONDS), AUTO_MAX_SECONDS))


@dataclass(frozen=True)
class Resolution:
    """resolved()'s result: the windowing with numbers for its "auto" values, and the line that says what was chosen
    (None when nothing was auto)."""
    windowing: Windowing
    line: str | None


@dataclass(frozen=True)
class Windowing:
    clip_seconds: float | str = 1.0
    hop_seconds: float | str | None = "auto"
    pool_windows_up_to: float | None = None
    pool_weights: str = "power"
    segment: Any = None   # None or a SegmentConfig (a mapping of its fields is turned into one)
    native_seconds: float | None = None   # the encoder's own input length (0 or None: the run's windows only)

    def __post_init__(self) -> None:
        if self.clip_seconds != "auto":
            try:
                checks.number("data.clip_seconds", self.clip_seconds)
            except ConfigError:
                raise ConfigError(f"data.clip_seconds must be a number > 0 or auto, got {checks._plain(self.clip_seconds)!r}") from None
            object.__setattr__(self, "clip_seconds", float(self.clip_seconds))
        if self.hop_seconds != "auto":
            try:
                checks.number("data.hop_seconds", self.hop_seconds, optional=True)
            except ConfigError:
                raise ConfigError(f"data.hop_seconds must be null, a number > 0 or auto, got "
                                  f"{checks._plain(self.hop_seconds)!r}") from None
            if self.hop_seconds is not None:
                object.__setattr__(self, "hop_seconds", float(self.hop_seconds))
        checks.number("data.pool_windows_up_to", self.pool_windows_up_to, strict=False, optional=True)
        if self.pool_windows_up_to is not None:
            object.__setattr__(self, "pool_windows_up_to", float(self.pool_windows_up_to))
        checks.choice("data.pool_weights", self.pool_weights, POOL_WEIGHTS)
        checks.number("data.native_seconds", self.native_seconds, strict=False, optional=True)
        object.__setattr__(self, "native_seconds", float(self.native_seconds) if self.native_seconds else None)
        object.__setattr__(self, "segment", _segment_config(self.segment))
        self._check_hop()

    def _check_hop(self, chose: str = "") -> None:
        """With a detector the windows of an event must leave no gap: hop <= clip."""
        if (self.segment is not None and self.resolved_now and self.hop_seconds is not None
                and self.hop_seconds > self.clip_seconds):
            raise ConfigError(f"data.hop_seconds ({self.hop_seconds:g}) must be <= " + (chose or f"data.clip_seconds "
                              f"({self.clip_seconds:g})") + " with data.segment, so that the windows of an event leave no gap")

    @property
    def resolved_now(self) -> bool:
        """No "auto" left: every value a number (or None)."""
        return "auto" not in (self.clip_seconds, self.hop_seconds)

    # ---- from and to configs and records ---------------------------------------------------------------------
    @classmethod
    def of(cls, values: Any) -> Windowing:
        """From a mapping with (some of) FIELDS, e.g. a data config's; other keys are ignored."""
        return cls(**{k: values[k] for k in FIELDS if k in values})

    def values(self) -> dict:
        """Every field as a plain value (the detector's settings as a mapping), None included."""
        out = asdict(self)
        out["segment"] = None if self.segment is None else asdict(self.segment)
        return out

    def record(self) -> dict:
        """As encoder.json keeps it: values() without a native_seconds of None (as records were before it; a
        missing one reads back as None)."""
        out = self.values()
        if out["native_seconds"] is None:
            del out["native_seconds"]
        return out

    @classmethod
    def from_record(cls, record: Any) -> Windowing:
        return cls.of(record)

    # ---- the rules ---------------------------------------------------------------------------------------------
    def resolved(self, durations) -> Resolution:
        """clip_seconds=auto: the clip length from the folder's `durations` (auto_clip_seconds); hop_seconds=auto:
        files longer than a clip are cut into windows every clip length (one row per window, the last one ending at
        the file's end), so that no file is cropped. With the line to print and, without a detector, what becomes
        of the long files."""
        line, w = None, self
        d = np.asarray(durations, dtype=float)
        if w.clip_seconds == "auto":
            if not d.size:  # nothing readable: the index raises the usual error with the reasons
                w = replace(w, clip_seconds=AUTO_MIN_SECONDS)
            else:
                w = replace(w, clip_seconds=auto_clip_seconds(d))
                line = (f"clip length: {w.clip_seconds:g} s (auto: {AUTO_PERCENTILE}th percentile of {d.size} file "
                        f"durations {d.min():.2f}-{d.max():.2f} s, median {np.median(d):.2f} s, rounded up to 0.1 s, "
                        f"within [{AUTO_MIN_SECONDS:g}, {AUTO_MAX_SECONDS:g}] s; set data.clip_seconds to choose)")
        hop_auto = w.hop_seconds == "auto"
        if hop_auto:
            w = replace(w, hop_seconds=float(w.clip_seconds))
            if line is None:
                line = f"clip length: {w.clip_seconds:g} s"
        if line is None:
            return Resolution(w, None)
        w._check_hop(chose=f"the clip length; clip_seconds=auto chose {w.clip_seconds:g} s")
        note = w.long_files_note(d) if w.segment is None else None
        if note is None and hop_auto and w.segment is None:
            note = f"no file is longer than {w.clip_seconds:g} s (longer ones: windows every {w.hop_seconds:g} s)"
        return Resolution(w, line + (f"\n{note}" if note else ""))

    def offsets(self, duration: float) -> list[float]:
        """Start times of the windows of one file (no detector): one window when hop is None or the file is no
        longer than a clip, else every hop seconds, plus a last one ending at the file's end. A file pooled into one
        row is cut at the encoder's native length instead, where that is longer (`cut_native`)."""
        clip, hop = self._numbers()
        if self.cut_native(duration):
            clip, hop = self.read_seconds, None if hop is None else max(hop, self.read_seconds)
        if hop is None or duration <= clip:
            return [0.0]
        n = int(np.floor((duration - clip) / hop)) + 1
        starts = [i * hop for i in range(n)]
        if duration - (starts[-1] + clip) > 1e-6:
            starts.append(duration - clip)  # the tail gets its own window, nothing is dropped
        return starts

    @property
    def read_seconds(self) -> float:
        """How much audio each window is read with: the clip, or the encoder's native length where longer."""
        return max(float(self._numbers()[0]), self.native_seconds or 0.0)

    def cut_native(self, duration: float) -> bool:
        """Whether a file of `duration` is cut into windows of the native length: it is pooled into one row (its
        windows are never rows themselves), no detector places them, and the native length is longer than a clip."""
        return (self.segment is None and self.read_seconds > float(self._numbers()[0])
                and bool(self.pooled([duration])[0]))

    def read_start(self, offset: float, duration: float) -> float:
        """Where the audio of the window at `offset` of a file of `duration` is read from (read_seconds of it): the
        window's own start where it is read_seconds long, else a native window centred on it, inside the file."""
        if self.native_seconds is None:   # (the dataset asks for every window: nothing to work out)
            return float(offset)
        clip, read = float(self._numbers()[0]), self.read_seconds
        if read <= clip or self.cut_native(duration):
            return float(offset)
        return float(min(max(offset - (read - clip) / 2, 0.0), max(duration - read, 0.0)))

    def event_offsets(self, events, duration: float) -> list[float]:
        """Start times of the windows at a file's sound events (segment.event_windows), every event's in order."""
        from audioclust.data.segment import event_windows

        clip, hop = self._numbers()
        return [s for w in event_windows(events, clip, hop, duration) for s in w]

    def pooled(self, durations) -> np.ndarray:
        """Which files are one row each (their windows pooled): those up to pool_windows_up_to seconds."""
        return whole_files(durations, self.pool_windows_up_to)

    def row_seconds(self, durations, file_ids) -> np.ndarray:
        """The stretch of audio each row stands for (its file's id in `durations`): the whole file when its windows
        were pooled into one row, else a clip."""
        fid = np.asarray(file_ids, np.int64)
        d = np.asarray(durations, np.float64)
        return np.where(self.pooled(d)[fid], d[fid], float(self._numbers()[0]))

    def window_rows(self, durations) -> bool:
        """Whether some rows are windows of a file (played from their offset for one clip), not whole files."""
        return self.hop_seconds is not None and not self.pooled(durations).all()

    def weights(self, power):
        """Each window's weight when a file's windows are pooled (None: alike)."""
        return None if self.pool_weights == "equal" else power

    def native_line(self) -> str | None:
        """What the encoder's native length changes, in one line (None where it changes nothing)."""
        if not self.resolved_now or self.read_seconds <= float(self.clip_seconds):
            return None
        clip, read = float(self.clip_seconds), self.read_seconds
        pooled = (f"a file up to {self.pool_windows_up_to:g} s read in {read:g} s windows instead, "
                  if self.pool_windows_up_to is not None and self.segment is None else "")
        return (f"windows: the encoder takes {read:g} s: {pooled}each {clip:g} s row of a longer recording read with the "
                f"{read:g} s around it (data.native_seconds=0: the {clip:g} s rows alone)")

    def long_files_note(self, durations) -> str | None:
        """How many files are longer than a clip and what becomes of them (None with a detector or nothing long)."""
        if self.segment is not None or not self.resolved_now:
            return None
        d = np.asarray(durations, dtype=float)
        clip = float(self.clip_seconds)
        n = int(np.sum(d > clip + 1e-3))
        if not n:
            return None
        if self.hop_seconds is None:
            return (f"{n} of {d.size} files are longer than {clip:g} s (up to {d.max():.2f} s): only "
                    f"their first {clip:g} s are used (data.hop_seconds=auto windows them)")
        line = (f"{n} of {d.size} files are longer than {clip:g} s (up to {d.max():.2f} s): cut into "
                f"windows every {self.hop_seconds:g} s")
        up_to = self.pool_windows_up_to
        if up_to is None:
            return line + ", one row per window"
        n_long = int(np.sum(~self.pooled(d)))
        return (line + f"; a file up to {up_to:g} s is one row (its windows' embeddings pooled, weighted by "
                f"{'signal power' if self.pool_weights == 'power' else 'window'})"
                + (f", the {n_long} longer one(s) one row per window" if n_long else ""))

    def _numbers(self) -> tuple[float, float | None]:
        if not self.resolved_now:
            raise ValueError("windowing has auto values: resolved(durations) first")
        return float(self.clip_seconds), None if self.hop_seconds is None else float(self.hop_seconds)


def whole_files(durations, up_to: float | None) -> np.ndarray:
    """Which files are one row each: those up to `up_to` seconds (None: none is)."""
    d = np.asarray(durations, dtype=float)
    return np.zeros(d.shape, bool) if up_to is None else d <= float(up_to) + 1e-6


def _segment_config(segment):
    """data.segment: null (off), a SegmentConfig, or a mapping of the activity detector's settings."""
    if segment is None:
        return None
    from audioclust.data.segment import SegmentConfig

    if isinstance(segment, SegmentConfig):
        return segment
    plain = checks._plain(segment)
    if not isinstance(plain, dict):
        raise ConfigError(f"data.segment must be null or a mapping of detector settings (data/segment=energy), got {plain!r}")
    unknown = sorted(set(plain) - set(SegmentConfig.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown data.segment key(s) {', '.join(unknown)}: use "
                          f"{', '.join(SegmentConfig.__dataclass_fields__)}")
    return SegmentConfig(**plain)
