"""Activity detection: find the stretches of a long recording that stand out from its own background.

An energy detector with an adaptive threshold:

1. the signal is high-passed (`highpass_hz`, 2nd-order Butterworth, causal, so it can run chunk by chunk) to
   ignore wind and traffic rumble, then cut into non-overlapping frames of `frame_seconds`; each frame's energy is
   its mean square in dB (full scale; digital silence is -100 dB); with `bands > 1` each frame's (Hann-windowed)
   spectrum is also summed in `bands` log-spaced bands between max(highpass_hz, 50 Hz) and sr/2, and every band
   gets its own floor below (bands of fewer than 8 FFT bins are merged with the next: their energy is too noisy
   for a floor, so short frames at a low rate get fewer bands than asked), so a narrow-band call (a bird, a whistle) counts against the noise in its own band
   rather than against the whole spectrum;
2. the noise floor is a low percentile (`floor_percentile`) of the frame energies in a window of
   `floor_window_seconds` centred on each frame (evaluated once per second and interpolated), so it follows a
   background that changes slowly over the hours (with the default 30 s window, up to about 0.2 dB/s: a faster
   change, like a passing plane or rain starting, comes out as an event); `floor_window_seconds=0` takes the
   percentile over the whole recording;
3. a frame is active when it is `threshold_db` above the floor (in any band, with bands; and its broadband
   energy is above the absolute `min_level_db`); with `spread_factor > 0` (the `novelty` preset) a band must
   also stand `spread_factor` robust standard deviations above its own median over the same window (sigma =
   (median - 25th percentile) / 0.674, as for a normal distribution), so that a background that moves a lot
   by itself (rain, wind gusts, a chorus of insects or birds) needs a larger excursion than a steady hiss; with
   hysteresis an event starts at that level and lasts while the energy stays above `threshold_db -
   hysteresis_db`;
4. events closer than `merge_gap_seconds` are merged, events then shorter than `min_event_seconds` are dropped
   (they go to the quiet stretches with that reason), and the rest are widened by `pad_seconds` on each side
   (clipped to the recording; events that touch after padding are joined).

All bookkeeping is in samples, so the events and the quiet stretches tile the recording exactly:
sum of event samples + sum of quiet samples == number of samples (`Segmentation.check()`).

`detect(wave, sr, cfg)` works on a wave in memory; `detect_file(path, sr, cfg)` reads a file in chunks (only the
frame energies, 4 bytes per frame, are kept: an hour at 25 ms frames is 144,000 floats) and gives the same result
as `detect(load(path, sr), sr, cfg)` when the file is at `sr` already; when it is not, the chunks are resampled
with a streaming resampler whose output can differ from one-shot resampling in the last bits (events agree to
within a frame).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from audioclust.errors import ConfigError, DataError

SILENCE_DB = -100.0          # energy floor of a digitally silent frame (mean square 1e-10)
MIN_BAND_BINS = 8            # see _FrameEnergy: bands narrower than this many FFT bins are merged
BAND_SMOOTH_FRAMES = 3       # band energies are averaged over this many frames before thresholding
FLOOR_STEP_SECONDS = 1.0     # the running floor is evaluated at this spacing and interpolated in between


@dataclass(frozen=True)
class SegmentConfig:
    frame_seconds: float = 0.025       # frame length (no overlap)
    highpass_hz: float = 100.0         # 0 = no filter
    bands: int = 8                     # 1 = broadband energy; >1 = log-spaced bands, each with its own floor
    threshold_db: float = 6.0          # event level above the noise floor
    hysteresis_db: float = 3.0         # an event lasts while above threshold_db - hysteresis_db (0 = none)
    floor_percentile: float = 20.0     # low percentile of frame energies taken as the noise floor
    floor_window_seconds: float = 30.0 # running window of the floor; 0 = one floor for the whole recording
    spread_factor: float = 0.0         # > 0: also this many robust std above the band's running median; 0 = off
    min_level_db: float = -80.0        # frames quieter than this (dBFS) are never events
    min_event_seconds: float = 0.1     # shorter events (after merging) are dropped
    merge_gap_seconds: float = 0.3     # events separated by less than this are merged
    pad_seconds: float = 0.1           # widen each kept event by this on both sides

    def __post_init__(self):
        def number(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"segment.{name} must be a finite number, got {v!r}")
            return float(v)

        for name in ("frame_seconds", "highpass_hz", "threshold_db", "hysteresis_db", "floor_percentile",
                     "floor_window_seconds", "spread_factor", "min_level_db", "min_event_seconds", "merge_gap_seconds",
                     "pad_seconds"):
            number(name)
        if not 0 < self.frame_seconds <= 1:
            raise ConfigError(f"segment.frame_seconds must be in (0, 1] s, got {self.frame_seconds}")
        if isinstance(self.bands, bool) or not isinstance(self.bands, int) or not 1 <= self.bands <= 32:
            raise ConfigError(f"segment.bands must be an integer in [1, 32], got {self.bands!r}")
        if self.highpass_hz < 0:
            raise ConfigError(f"segment.highpass_hz must be >= 0 (0 = no filter), got {self.highpass_hz}")
        if self.threshold_db <= 0:
            raise ConfigError(f"segment.threshold_db must be > 0 dB above the noise floor, got {self.threshold_db}")
        if not 0 <= self.hysteresis_db < self.threshold_db:
            raise ConfigError(f"segment.hysteresis_db must be >= 0 and below threshold_db ({self.threshold_db}), "
                              f"got {self.hysteresis_db}")
        if not 0 <= self.floor_percentile < 100:
            raise ConfigError(f"segment.floor_percentile must be in [0, 100), got {self.floor_percentile}")
        if self.spread_factor < 0:
            raise ConfigError(f"segment.spread_factor must be >= 0 (0 = off), got {self.spread_factor}")
        if self.floor_window_seconds < 0:
            raise ConfigError(f"segment.floor_window_seconds must be >= 0 (0 = whole recording), "
                              f"got {self.floor_window_seconds}")
        if 0 < self.floor_window_seconds < 10 * self.frame_seconds:
            raise ConfigError(f"segment.floor_window_seconds ({self.floor_window_seconds}) must span at least "
                              f"10 frames ({10 * self.frame_seconds:g} s), or be 0")
        for name in ("min_event_seconds", "merge_gap_seconds", "pad_seconds"):
            if getattr(self, name) < 0:
                raise ConfigError(f"segment.{name} must be >= 0, got {getattr(self, name)}")

    def describe_event(self) -> str:
        if self.spread_factor:
            return (f"above noise floor + {self.threshold_db:g} dB and background median + "
                    f"{self.spread_factor:g} sigma")
        return f"above noise floor + {self.threshold_db:g} dB"

    def describe_quiet(self) -> str:
        if self.spread_factor:
            return (f"below noise floor + {self.threshold_db:g} dB or background median + "
                    f"{self.spread_factor:g} sigma")
        return f"below noise floor + {self.threshold_db:g} dB"

    def describe_short(self) -> str:
        return f"shorter than min_event_seconds ({self.min_event_seconds:g} s)"


@dataclass(frozen=True)
class Quiet:
    onset: float
    offset: float
    reason: str

    @property
    def seconds(self) -> float:
        return self.offset - self.onset


@dataclass
class Segmentation:
    """Events and quiet stretches of one recording; `*_samples` hold the exact [start, end) sample indices."""
    sr: int
    n_samples: int
    event_samples: np.ndarray                      # (k, 2) int64
    quiet_samples: np.ndarray                      # (m, 2) int64
    quiet_reasons: list[str]
    frame_db: np.ndarray = field(repr=False)       # (frames, 1 + bands if bands > 1) energy in dB: broadband, bands
    floor_db: np.ndarray = field(repr=False)       # the noise floor of each column, for plots and debugging
    hop: int = 0                                   # samples per frame

    @property
    def duration(self) -> float:
        return self.n_samples / self.sr

    @property
    def events(self) -> list[tuple[float, float]]:
        return [(int(a) / self.sr, int(b) / self.sr) for a, b in self.event_samples]

    @property
    def quiet(self) -> list[Quiet]:
        return [Quiet(int(a) / self.sr, int(b) / self.sr, r) for (a, b), r in zip(self.quiet_samples, self.quiet_reasons)]

    @property
    def event_seconds(self) -> float:
        return int(np.sum(self.event_samples[:, 1] - self.event_samples[:, 0])) / self.sr

    @property
    def quiet_seconds(self) -> float:
        return int(np.sum(self.quiet_samples[:, 1] - self.quiet_samples[:, 0])) / self.sr

    def check(self) -> None:
        """Assert that events and quiet stretches tile [0, n_samples) without gap or overlap."""
        parts = sorted([(int(a), int(b)) for a, b in self.event_samples] + [(int(a), int(b)) for a, b in self.quiet_samples])
        pos = 0
        for a, b in parts:
            if a != pos or b <= a:
                raise AssertionError(f"segmentation does not tile the recording at sample {pos}: ({a}, {b})")
            pos = b
        if pos != self.n_samples:
            raise AssertionError(f"segmentation ends at sample {pos}, recording has {self.n_samples}")

    def summary(self) -> dict:
        reasons: dict[str, float] = {}
        for (a, b), r in zip(self.quiet_samples, self.quiet_reasons):
            reasons[r] = reasons.get(r, 0.0) + int(b - a) / self.sr
        return {"seconds": self.duration, "events": len(self.event_samples), "event_seconds": self.event_seconds,
                "quiet_seconds": self.quiet_seconds, "quiet_by_reason": reasons}


class _FrameEnergy:
    """Streaming high-pass + frame energy: push() chunks of any length, then finish()."""

    def __init__(self, sr: int, cfg: SegmentConfig):
        if not isinstance(sr, (int, np.integer)) or sr <= 0:
            raise ConfigError(f"sample rate must be a positive integer, got {sr!r}")
        self.hop = max(1, int(round(cfg.frame_seconds * sr)))
        self.sos = self.zi = None
        if cfg.highpass_hz > 0:
            if cfg.highpass_hz >= sr / 2:
                raise ConfigError(f"segment.highpass_hz ({cfg.highpass_hz:g}) must be below half the sample rate "
                                  f"({sr / 2:g} Hz)")
            from scipy.signal import butter

            self.sos = butter(2, cfg.highpass_hz, btype="highpass", fs=sr, output="sos")
            self.zi = np.zeros((self.sos.shape[0], 2))
        self.bands = None
        if cfg.bands > 1:
            lo = max(cfg.highpass_hz, 50.0)
            if lo >= sr / 2:
                raise ConfigError(f"segment.bands: no room for bands between {lo:g} Hz and half the sample rate")
            edges = np.geomspace(lo, sr / 2, cfg.bands + 1)
            freqs = np.fft.rfftfreq(self.hop, 1 / sr)
            bin_of = np.searchsorted(edges, freqs, side="right") - 1
            bin_of[freqs >= sr / 2] = cfg.bands - 1                       # the Nyquist bin
            # a band of a few FFT bins has a wildly varying energy (chi-square with 2 dof per bin), so that its low
            # percentile sits far below its typical level and noise alone crosses the threshold: bands are
            # merged upwards until each holds >= MIN_BAND_BINS bins (the last one merges downwards)
            self.bands, cur = [], []
            for band in range(cfg.bands):
                cur += list(np.flatnonzero(bin_of == band))
                if len(cur) >= MIN_BAND_BINS:
                    self.bands.append(np.array(cur))
                    cur = []
            if cur:
                if self.bands:
                    self.bands[-1] = np.concatenate([self.bands[-1], cur])
                else:
                    self.bands.append(np.array(cur))
            w = np.hanning(self.hop + 2)[1:-1] if self.hop > 1 else np.ones(1)
            self.window = w / np.sqrt(np.mean(w ** 2))
        self.rest = np.zeros(0)
        self.n = 0
        self.out: list[np.ndarray] = []

    def push(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 1:
            raise DataError(f"expected a mono wave (1-d array), got shape {x.shape}")
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        self.n += len(x)
        if self.sos is not None and len(x):
            from scipy.signal import sosfilt

            x, self.zi = sosfilt(self.sos, x, zi=self.zi)
        x = np.concatenate([self.rest, x]) if len(self.rest) else x
        k = len(x) // self.hop
        if k:
            self.out.append(self._frames(x[: k * self.hop].reshape(k, self.hop), self.hop))
        self.rest = x[k * self.hop:]

    def _frames(self, f: np.ndarray, n: int) -> np.ndarray:
        cols = [np.sum(f ** 2, axis=1) / n]
        if self.bands is not None:
            if f.shape[1] < self.hop:  # the last, partial frame: zero-padded, scaled to its own length
                f = np.pad(f, ((0, 0), (0, self.hop - f.shape[1])))
            p = np.abs(np.fft.rfft(f * self.window, axis=1)) ** 2 / (n * self.hop)
            cols += [p[:, b].sum(axis=1) for b in self.bands]
        return _db(np.stack(cols, axis=1))

    def finish(self) -> np.ndarray:
        if len(self.rest):
            self.out.append(self._frames(self.rest[None, :], len(self.rest)))
            self.rest = np.zeros(0)
        return np.concatenate(self.out) if self.out else np.zeros((0, 1 if self.bands is None else 1 + len(self.bands)))


def _db(ms: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(ms, 10 ** (SILENCE_DB / 10)))


def noise_floor(frame_db: np.ndarray, frame_seconds: float, cfg: SegmentConfig) -> np.ndarray:
    """Per-frame noise floor: the `floor_percentile` of the frame energies in a window of `floor_window_seconds`
    centred on the frame (cut short at the recording's ends, not shifted: a shifted window would lag a background
    that is changing there), evaluated every second and interpolated."""
    return running_percentiles(frame_db, frame_seconds, cfg.floor_window_seconds, [cfg.floor_percentile])[0]


def running_percentiles(frame_db: np.ndarray, frame_seconds: float, window_seconds: float,
                        qs: list[float]) -> np.ndarray:
    """(len(qs), frames): the percentiles `qs` of the frame energies in a window of `window_seconds` centred on
    each frame (see noise_floor); window 0 (or longer than the recording) = over the whole recording."""
    n = len(frame_db)
    if n == 0:
        return np.zeros((len(qs), 0))
    w = int(round(window_seconds / frame_seconds))
    if w <= 0 or w >= n:
        return np.repeat(np.percentile(frame_db, qs)[:, None], n, axis=1)
    step = max(1, int(round(FLOOR_STEP_SECONDS / frame_seconds)))
    centres = np.arange(0, n, step)
    if centres[-1] != n - 1:
        centres = np.append(centres, n - 1)
    at = np.empty((len(qs), len(centres)))
    inner = (centres - w // 2 >= 0) & (centres - w // 2 + w <= n)
    for i in np.flatnonzero(~inner):            # near the ends: the window is cut short, still centred on its frame
        at[:, i] = np.percentile(frame_db[max(0, centres[i] - w // 2): centres[i] - w // 2 + w], qs)
    idx = np.flatnonzero(inner)
    windows = np.lib.stride_tricks.sliding_window_view(frame_db, w)
    batch = max(1, (1 << 20) // w)              # ~8 MB of float64 per batch
    for i in range(0, len(idx), batch):
        j = idx[i: i + batch]
        at[:, j] = np.percentile(windows[centres[j] - w // 2], qs, axis=1)
    return np.stack([np.interp(np.arange(n), centres, a) for a in at])


def _runs(mask: np.ndarray) -> np.ndarray:
    """(k, 2) [start, end) index pairs of the True runs of a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1).astype(np.int64)


def _segment(frame_db: np.ndarray, n_samples: int, sr: int, hop: int, cfg: SegmentConfig) -> Segmentation:
    if frame_db.shape[1] > 1 and len(frame_db):
        # band energies vary much more from frame to frame than the broadband one: average them (in power) over
        # BAND_SMOOTH_FRAMES frames; this widens an event by up to a frame at each end
        from scipy.ndimage import uniform_filter1d

        p = uniform_filter1d(10 ** (frame_db[:, 1:] / 10), BAND_SMOOTH_FRAMES, axis=0, mode="nearest")
        frame_db = np.concatenate([frame_db[:, :1], _db(p)], axis=1)
    det = slice(1, None) if frame_db.shape[1] > 1 else slice(0, 1)
    qs = [cfg.floor_percentile] + ([25.0, 50.0] if cfg.spread_factor else [])
    at = np.stack([running_percentiles(c, hop / sr, cfg.floor_window_seconds, qs) for c in frame_db.T], axis=2) \
        if frame_db.size else np.zeros((len(qs),) + frame_db.shape)
    floor = at[0]
    threshold = floor[:, det] + cfg.threshold_db
    if cfg.spread_factor:        # and spread_factor robust std above the band's median: sigma = (p50 - p25) / 0.674
        threshold = np.maximum(threshold, at[2][:, det] + cfg.spread_factor * (at[2] - at[1])[:, det] / 0.674)
    over = (frame_db[:, det] - threshold).max(axis=1) if len(frame_db) else np.zeros(0)
    loud = frame_db[:, 0] >= cfg.min_level_db
    high = loud & (over > 0)
    low = loud & (over > -cfg.hysteresis_db)
    runs = _runs(low)
    if len(runs):  # keep the low-threshold runs that reach the high threshold somewhere
        c = np.concatenate([[0], np.cumsum(high)])
        runs = runs[c[runs[:, 1]] > c[runs[:, 0]]]
    ev = np.minimum(runs * hop, n_samples)
    ev = ev[ev[:, 1] > ev[:, 0]] if len(ev) else ev.reshape(0, 2)

    # merge events separated by less than merge_gap_seconds
    gap = int(round(cfg.merge_gap_seconds * sr))
    if len(ev) > 1:
        new = np.concatenate([[True], ev[1:, 0] - ev[:-1, 1] >= max(gap, 1)])
        ev = np.stack([ev[new, 0], np.maximum.reduceat(ev[:, 1], np.flatnonzero(new))], axis=1)
    # drop the short ones
    short_len = int(round(cfg.min_event_seconds * sr))
    keep = (ev[:, 1] - ev[:, 0]) >= short_len if len(ev) else np.zeros(0, bool)
    short, ev = ev[~keep], ev[keep]
    # pad, clip, join what touches
    pad = int(round(cfg.pad_seconds * sr))
    if len(ev):
        ev = np.stack([np.maximum(ev[:, 0] - pad, 0), np.minimum(ev[:, 1] + pad, n_samples)], axis=1)
        new = np.concatenate([[True], ev[1:, 0] > ev[:-1, 1]])
        ev = np.stack([ev[new, 0], np.maximum.reduceat(ev[:, 1], np.flatnonzero(new))], axis=1)
    ev = ev.astype(np.int64).reshape(-1, 2)

    # the quiet stretches: the complement of the events, with the dropped blips named for what they are
    quiet, reasons = [], []
    cuts = [0] + [int(v) for v in ev.ravel()] + [n_samples]
    blips = [(int(a), int(b)) for a, b in short]
    bi = 0
    for a, b in zip(cuts[0::2], cuts[1::2]):          # gaps between events: [a, b)
        pos = a
        while bi < len(blips) and blips[bi][1] <= a:
            bi += 1
        j = bi
        while j < len(blips) and blips[j][0] < b:
            s, e = max(blips[j][0], a), min(blips[j][1], b)
            if s > pos:
                quiet.append((pos, s))
                reasons.append(cfg.describe_quiet())
            if e > s:
                quiet.append((s, e))
                reasons.append(cfg.describe_short())
                pos = e
            j += 1
        if b > pos:
            quiet.append((pos, b))
            reasons.append(cfg.describe_quiet())
    q = np.array(quiet, np.int64).reshape(-1, 2)
    return Segmentation(sr, n_samples, ev, q, reasons, frame_db.astype(np.float32), floor.astype(np.float32), hop)


def detect(wave: np.ndarray, sr: int, cfg: SegmentConfig | None = None) -> Segmentation:
    """Segment a mono wave (float, full scale +-1) sampled at `sr` Hz."""
    cfg = cfg or SegmentConfig()
    fe = _FrameEnergy(sr, cfg)
    fe.push(np.asarray(wave))
    return _segment(fe.finish(), fe.n, sr, fe.hop, cfg)


def detect_file(path: str | os.PathLike, sr: int | None = None, cfg: SegmentConfig | None = None,
                chunk_seconds: float = 60.0) -> Segmentation:
    """Segment an audio file read sequentially in blocks of `chunk_seconds` (mono mix, resampled to `sr` when
    given and different from the file's rate; None = the file's own rate). Never holds the whole file."""
    from audioclust.data.audio import blocks, probe

    cfg = cfg or SegmentConfig()
    if not chunk_seconds > 0:
        raise ConfigError(f"chunk_seconds must be > 0, got {chunk_seconds}")
    info = probe(path)
    native = info.samplerate
    sr = native if sr is None else sr
    fe = _FrameEnergy(sr, cfg)
    block = max(fe.hop, int(chunk_seconds * native) // fe.hop * fe.hop)
    stream = None
    if native != sr:
        import soxr

        stream = soxr.ResampleStream(native, sr, 1, dtype="float32")
    try:
        for x, _ in blocks(path, block):   # mono, libsndfile or FFmpeg
            if stream is not None:
                x = stream.resample_chunk(x)
            fe.push(np.clip(x, -1.0, 1.0))
        if stream is not None:
            fe.push(np.clip(stream.resample_chunk(np.zeros(0, np.float32), last=True), -1.0, 1.0))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot decode {path}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
    return _segment(fe.finish(), fe.n, sr, fe.hop, cfg)


def event_windows(events, clip_seconds: float, hop_seconds: float | None = None,
                  duration: float | None = None) -> list[list[float]]:
    """Window starts (seconds) covering each event with clips of `clip_seconds`, one list per event.

    - an event no longer than a clip gets one window centred on it (start = middle - clip/2);
    - a longer event gets windows every `hop_seconds` (default: clip_seconds, no overlap) from its onset, plus a
      last one ending exactly at its offset, so the whole event is covered and no window runs past it;
    - with `duration` (the recording's length) every start is clipped to [0, duration - clip] (to 0 when the
      recording is shorter than a clip); without it, starts are only kept >= 0.
    """
    if not (isinstance(clip_seconds, (int, float)) and clip_seconds > 0):
        raise ConfigError(f"clip_seconds must be > 0, got {clip_seconds!r}")
    hop = clip_seconds if hop_seconds is None else hop_seconds
    if not (isinstance(hop, (int, float)) and 0 < hop <= clip_seconds):
        raise ConfigError(f"hop_seconds must be in (0, clip_seconds={clip_seconds}] so windows leave no gap, got {hop!r}")
    hi = None if duration is None else max(0.0, duration - clip_seconds)
    out = []
    for a, b in events:
        a, b = float(a), float(b)
        if b - a <= clip_seconds:
            starts = [(a + b) / 2 - clip_seconds / 2]
        else:
            last = b - clip_seconds
            starts = list(np.arange(a, last, hop))
            if not starts or last - starts[-1] > 1e-9:
                starts.append(last)
        starts = [max(0.0, s if hi is None else min(s, hi)) for s in starts]
        out.append([float(s) for s in starts])
    return out
