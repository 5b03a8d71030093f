"""Find audio files in a folder and decode them: soundfile (libsndfile) or, for what it cannot read (m4a/AAC, mp4
and mov sound tracks, webm, mkv, wma, amr), PyAV (FFmpeg); mono mix, soxr resampling."""
from __future__ import annotations

import math
import os
import stat
import threading
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audioclust.errors import DataError

CHUNK_MARGIN_SECONDS = 0.02   # load_chunk: audio resampled beyond each end of a chunk, then dropped
SNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64", ".caf", ".opus")
# what libsndfile cannot read: decoded by FFmpeg through PyAV (a video's first sound track; a video without one is skipped)
FFMPEG_EXTENSIONS = (".m4a", ".m4b", ".aac", ".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".webm", ".mkv", ".mka", ".wma",
                     ".asf", ".amr", ".awb", ".ac3", ".wv")
EXTENSIONS = SNDFILE_EXTENSIONS + FFMPEG_EXTENSIONS
# FFmpeg, read from a seek: audio decoded before the requested start and dropped, so that the decoder's state (AAC's
# overlapping transform, MP3's bit reservoir) is the one a read from the file's start has there
FFMPEG_PREROLL_SECONDS = 0.1


@dataclass(frozen=True)
class AudioInfo:
    path: str
    frames: int
    samplerate: int
    channels: int


def list_audio_files(root: str | os.PathLike, extensions=EXTENSIONS) -> list[Path]:
    """Every path under `root` (recursive, sorted) whose name ends in an audio extension."""
    return walk_audio(root, extensions)[0]


def walk_audio(root: str | os.PathLike, extensions=EXTENSIONS) -> tuple[list[Path], dict[str, int]]:
    """The audio paths under `root` (recursive, sorted), and how many other files there are by extension
    ('' for none; hidden files and what hidden folders hold, .git or .cache, are not counted)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"data root does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"data root is not a folder: {root}")
    exts = tuple(e.lower() for e in extensions)
    found, other = [], {}
    for folder, dirs, files in os.walk(root):
        # a directory named like audio is listed too, so that it is reported as skipped
        found += [Path(folder) / n for n in files + dirs if n.lower().endswith(exts)]
        hidden = any(part.startswith(".") for part in Path(folder).relative_to(root).parts)
        for n in [] if hidden else files:
            if not n.lower().endswith(exts) and not n.startswith("."):
                ext = os.path.splitext(n)[1].lower()
                other[ext] = other.get(ext, 0) + 1
    return sorted(found), dict(sorted(other.items()))


def not_audio_line(other: dict[str, int]) -> str | None:
    """The printed line for the files under a data root that are not audio (walk_audio), or None: there are none."""
    if not other:
        return None
    top = sorted(other.items(), key=lambda kv: (-kv[1], kv[0]))
    kinds = ", ".join(f"{n} {e or '(no extension)'}" for e, n in top[:5]) + (", ..." if len(top) > 5 else "")
    n = sum(other.values())
    return f"not audio, left out: {n} file{'s' if n != 1 else ''} ({kinds})"


def uses_ffmpeg(path) -> bool:
    """Whether `path` is decoded by FFmpeg (PyAV) rather than libsndfile: by its extension."""
    return str(path).lower().endswith(FFMPEG_EXTENSIONS)


def probe(path: str | os.PathLike) -> AudioInfo:
    """Read the header of one file; raise DataError with a one-line reason if unusable."""
    path = Path(path)
    if path.is_dir():
        raise DataError("is a directory")
    try:
        st = path.stat()
    except FileNotFoundError:   # a broken symlink, or the file went away after the folder was listed
        raise DataError("missing file (removed while reading the folder, or a broken symlink)") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader forever
        raise DataError("not a regular file (fifo, socket or device)")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise DataError("permission denied" if isinstance(exc, PermissionError) else f"cannot open: {_short(exc)}") from None
    if st.st_size == 0:
        raise DataError("empty file")
    info = _header(path)
    if info.frames <= 0:
        raise DataError("no audio samples")
    if info.samplerate <= 0:
        raise DataError(f"invalid sample rate {info.samplerate}")
    return AudioInfo(str(path), int(info.frames), int(info.samplerate), int(info.channels))


class _SharedOrAlone:
    """A lock held by many at once (shared) or by one alone (exclusive); an exclusive request waits for the shared
    holders to leave and keeps new ones out meanwhile."""

    def __init__(self):
        self._cond = threading.Condition()
        self._shared = 0
        self._alone = False
        self._waiting = 0

    @contextmanager
    def shared(self):
        with self._cond:
            self._cond.wait_for(lambda: not self._alone and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def alone(self):
        with self._cond:
            self._waiting += 1
            self._cond.wait_for(lambda: not self._alone and not self._shared)
            self._waiting -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._cond.notify_all()


_HEADERS = _SharedOrAlone()


def _header(path: Path):
    """The file's header (frames, samplerate, channels), or a DataError with a one-line reason."""
    return _ffmpeg_header(path) if uses_ffmpeg(path) else _sndfile_header(path)


def _sndfile_header(path: Path):
    """sf.info, with a one-line reason for a file it cannot read. libsndfile keeps its last error in one global:
    with files probed in parallel threads another open can clear it first, and the reason comes back as error 0,
    "(Garbled error message from libsndfile)" (libsndfile#610). Headers are read in parallel; a file whose reason
    was lost is read again alone (no other header read meanwhile), so its reason does not depend on the threads."""
    try:
        with _HEADERS.shared():
            return sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for bad files
        if getattr(exc, "code", None) == 0:
            try:
                with _HEADERS.alone():
                    return sf.info(str(path))
            except Exception as again:
                exc = again
        msg = _short(exc).replace(f"Error opening {str(path)!r}: ", "")
        if "does not exist" in msg:  # libsndfile's words for a regular file it cannot recognise
            msg = "format not recognised"
        raise DataError(f"not readable audio: {msg}") from None


def load(path: str, sr: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode `path` (a window of it when start/duration are given) to mono float32 at `sr` Hz."""
    x, native = _read(path, start, duration)
    if native != sr and x.size > 0:
        x = soxr.resample(x, native, sr).astype(np.float32, copy=False)
    return np.clip(x, -1.0, 1.0)


def load_chunk(path: str, sr: int, start: float, duration: float,
               margin: float = CHUNK_MARGIN_SECONDS) -> tuple[np.ndarray, int, bool]:
    """A stretch of `path` at `sr` Hz: samples round(start * sr) to that + round(duration * sr) of the whole file
    resampled to `sr`, without resampling the whole file. Returns (samples, index of the first one at `sr`, whether
    the file ends inside the stretch: then fewer samples).

    The file is read from a sample where its own grid and the `sr` grid meet, `margin` seconds or more before
    the stretch, to `margin` seconds after it, resampled, and cut: a window cut out of a long chunk equals the
    window decoded on its own, to about 1e-8 where resampled (the resampler's rounding depends a little on where
    its input starts; two stretches from the same start agree bit for bit, however far each goes)."""
    first, n = int(round(start * sr)), int(round(duration * sr))
    if first <= 0:   # from the file's first sample (a short file's only window): one open
        x, native = _read(path, 0.0, duration + margin)
        lead, end = 0, int(math.ceil(n * native / sr))
    else:
        native = _native_rate(path)
        period = native // math.gcd(native, sr)   # native samples after which both sample grids meet again
        lead = int(max(first / sr - margin, 0.0) * native) // period * period   # native sample to read from
        end = int(math.ceil((first + n) * native / sr))   # native sample where the stretch ends
        x, _ = _read(path, lead / native, (end - lead + int(math.ceil(margin * native))) / native)
    ended = len(x) < end - lead
    if native != sr and x.size > 0:
        x = soxr.resample(x, native, sr).astype(np.float32, copy=False)
    skip = first - lead * sr // native   # lead is on both grids: lead * sr / native is a whole number
    return np.clip(x[skip: skip + n], -1.0, 1.0), first, ended


def _read(path: str, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Mono float32 samples of a window at the file's own rate (non-finite values zeroed), and that rate."""
    try:
        if not str(path).lower().endswith((".wav", ".wave")):   # other formats: straight to libsndfile or FFmpeg
            raise wave.Error("not a WAV file")
        x, native = _read_pcm16_wav(path, start, duration)
    except (wave.Error, EOFError, OSError, ValueError):  # not plain 16-bit PCM WAV: libsndfile (or FFmpeg) reads it
        x, native = (read_ffmpeg if uses_ffmpeg(path) else _read_soundfile)(path, start, duration)
    return _mono(x), native


def _native_rate(path: str) -> int:
    """The file's own sample rate, from its header."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate()
    except (wave.Error, EOFError, OSError, ValueError):
        try:
            if uses_ffmpeg(path):
                with _ffmpeg_open(path) as (_, stream):
                    return stream.rate
            return sf.info(str(path)).samplerate
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"cannot decode {path}: {_short(exc)}") from None


def _read_soundfile(path: str, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    try:
        with sf.SoundFile(path) as f:
            native = f.samplerate
            f.seek(min(int(round(start * native)), max(f.frames - 1, 0)))
            n = -1 if duration is None else int(round(duration * native))
            return f.read(frames=n, dtype="float32", always_2d=True), native
    except Exception as exc:
        raise DataError(f"cannot decode {path}: {_short(exc)}") from None


@contextmanager
def _ffmpeg_open(path):
    """(container, its first audio stream) through PyAV; DataError when there is none."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise DataError("no audio track")
        stream = container.streams.audio[0]
        if not stream.rate or stream.rate <= 0:
            raise DataError(f"invalid sample rate {stream.rate}")
        yield container, stream


def _ffmpeg_frames(container, stream) -> int | None:
    """The stream's length in samples where the container states it exactly (MP4/MOV: the track's duration, in
    units of 1/rate, without the encoder's padding), else None (ADTS, Matroska, ASF, AMR: estimates or milliseconds)."""
    if "mov" not in container.format.name.split(",") or not stream.duration or stream.time_base is None:
        return None
    frames = stream.duration * stream.time_base * stream.rate
    return int(frames) if frames.denominator == 1 else None


def _ffmpeg_header(path: Path) -> AudioInfo:
    """Rate, channels and length of the first audio stream; the length from an MP4/MOV header, else by decoding the
    whole stream once (the decoded sample count: the index cache keeps it)."""
    try:
        with _ffmpeg_open(path) as (container, stream):
            frames = _ffmpeg_frames(container, stream)
            if frames is None:
                frames = sum(frame.samples for frame in container.decode(stream))
            return AudioInfo(str(path), frames, stream.rate, stream.channels)
    except DataError as exc:
        raise DataError(f"not readable audio: {exc}") from None
    except Exception as exc:   # av.FFmpegError and what a damaged stream raises inside the decoder
        raise DataError(f"not readable audio: {_ffmpeg_reason(exc)}") from None


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or _short(exc).replace(" (libav.", " (")


_SCALE = {"u8": (128.0, 1 / 128), "s16": (0.0, 1 / 32768), "s32": (0.0, 1 / 2 ** 31), "s64": (0.0, 1 / 2 ** 63)}


def _frame_samples(frame) -> np.ndarray:
    """One decoded frame as float32 (samples, channels) at full scale +-1, as libsndfile scales integers."""
    a = frame.to_ndarray()
    fmt = frame.format
    a = a.T if fmt.is_planar else a.reshape(-1, len(frame.layout.channels))
    name = fmt.name.rstrip("p")
    if name in _SCALE:
        shift, scale = _SCALE[name]
        return ((a.astype(np.float64) - shift) * scale).astype(np.float32)
    return a.astype(np.float32, copy=False)


def read_ffmpeg(path: str, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Samples [start, start + duration) of the first audio stream at its own rate, (samples, channels) float32,
    decoding only what that needs. MP4/MOV (sample-exact timestamps): from a seek FFMPEG_PREROLL_SECONDS before the
    start; other containers (a seek there lands on estimated or millisecond timestamps) from the file's start, or
    from where this thread's last read of the same file stopped (_FromStart: chunks in order decode the file once)."""
    try:
        with _ffmpeg_open(path) as (container, stream):
            native = stream.rate
            first = int(round(start * native))
            want = None if duration is None else int(round(duration * native))
            total = _ffmpeg_frames(container, stream)   # the end of an exact stream: the encoder's padding is dropped
            if total is None:
                container.close()
                return _FromStart.read(path, first, None if want is None else first + want), native
            stop = total if want is None else min(total, first + want)
            seek, t0 = start - FFMPEG_PREROLL_SECONDS > 0, stream.start_time or 0   # t0: the track's first timestamp
            if seek:
                container.seek(t0 + int((start - FFMPEG_PREROLL_SECONDS) / stream.time_base), stream=stream, backward=True)
            out, pos = [], None
            for frame in container.decode(stream):
                if pos is None:   # where the first frame lies: its timestamp after a seek, else the stream's start
                    pos = int(round((frame.pts - t0) * frame.time_base * native)) if seek and frame.pts is not None else 0
                a, at = _frame_samples(frame), pos
                pos += len(a)
                if pos <= first:
                    continue
                out.append(a[max(first - at, 0):][: max(stop - max(at, first), 0)])
                if pos >= stop:
                    break
            channels = stream.channels or 1
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot decode {path}: {_ffmpeg_reason(exc)}") from None
    return (np.concatenate(out) if out else np.zeros((0, channels), np.float32)), native


class _FromStart:
    """A file's FFmpeg decoder left open where the last read stopped, holding the samples from that read's start on:
    a read of the same (unchanged) file that starts there or later continues it, so a file read in consecutive
    chunks (the predict loop, Chunks) is decoded once, not once per chunk from its start. One per thread."""

    _local = threading.local()

    def __init__(self, path: str, key):
        import av

        self.key, self.container = key, av.open(str(path))
        if not self.container.streams.audio:
            self.container.close()
            raise DataError("no audio track")
        self.stream = self.container.streams.audio[0]
        self.frames = self.container.decode(self.stream)
        self.kept, self.pos, self.parts, self.ended = 0, 0, [], False   # parts: samples kept..pos

    @classmethod
    def read(cls, path: str, first: int, stop: int | None) -> np.ndarray:
        """Samples [first, stop) (stop None: to the end) as (samples, channels) float32."""
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, os.getpid())   # a forked loader worker opens its own
        dec = getattr(cls._local, "dec", None)
        if dec is None or dec.key != key or first < dec.kept:
            if dec is not None:
                dec.container.close()
                cls._local.dec = None
            dec = cls._local.dec = cls(path, key)
        try:
            while not dec.ended and (stop is None or dec.pos < stop):
                frame = next(dec.frames, None)
                if frame is None:
                    dec.ended = True
                    break
                a = _frame_samples(frame)
                dec.parts.append(a)
                dec.pos += len(a)
        except Exception:
            dec.container.close()
            cls._local.dec = None
            raise
        x = np.concatenate(dec.parts) if dec.parts else np.zeros((0, dec.stream.channels or 1), np.float32)
        out = x[max(first - dec.kept, 0): None if stop is None else max(stop - dec.kept, 0)]
        if stop is None:   # read to the end: nothing left to continue
            dec.container.close()
            cls._local.dec = None
        else:
            dec.parts, dec.kept = [x[max(first - dec.kept, 0):]], max(first, dec.kept)
        return out


def blocks(path, frames: int):
    """The whole file, mono float32 at its own rate, in consecutive blocks of `frames` samples (the last shorter):
    never the whole file in memory. Yields (block, rate)."""
    if not uses_ffmpeg(path):
        try:
            with sf.SoundFile(str(path)) as f:
                for x in f.blocks(blocksize=frames, dtype="float32", always_2d=True):
                    yield _mono(x), f.samplerate
        except DataError:
            raise
        except Exception as exc:
            raise DataError(f"cannot decode {path}: {_short(exc)}") from None
        return
    try:
        with _ffmpeg_open(path) as (container, stream):
            total, pending, n, done = _ffmpeg_frames(container, stream), [], 0, 0
            for frame in container.decode(stream):
                a = _mono(_frame_samples(frame))
                if total is not None:
                    a = a[: max(total - done, 0)]
                pending.append(a)
                n, done = n + len(a), done + len(a)
                while n >= frames:
                    x = np.concatenate(pending)
                    yield x[:frames], stream.rate
                    pending, n = [x[frames:]], n - frames
                if total is not None and done >= total:
                    break
            if n:
                yield np.concatenate(pending), stream.rate
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot decode {path}: {_ffmpeg_reason(exc)}") from None


def _mono(x: np.ndarray) -> np.ndarray:
    """A (samples, channels) block as one channel (their mean), non-finite values zeroed."""
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    return x if np.isfinite(x).all() else np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _read_pcm16_wav(path: str, start: float, duration: float | None) -> tuple[np.ndarray, int]:
    """The common case, 16-bit PCM WAV, through the standard library's wave module: faster than opening
    it with libsndfile, and the same samples (int / 32768, as libsndfile scales them)."""
    with wave.open(str(path), "rb") as w:
        native, channels, frames = w.getframerate(), w.getnchannels(), w.getnframes()
        if w.getsampwidth() != 2 or w.getcomptype() != "NONE" or native <= 0 or channels < 1:
            raise wave.Error("not 16-bit PCM")
        w.setpos(min(int(round(start * native)), max(frames - 1, 0)))
        raw = w.readframes(frames if duration is None else int(round(duration * native)))
    pcm = np.frombuffer(raw[: len(raw) // (2 * channels) * 2 * channels], "<i2").reshape(-1, channels)
    return pcm.astype(np.float32) * np.float32(1 / 32768), native


def trim_silence(x: np.ndarray, sr: int, top_db: float, frame_seconds: float = 0.01) -> np.ndarray:
    """Drop leading and trailing frames whose RMS is more than top_db below the loudest frame."""
    hop = max(1, int(sr * frame_seconds))
    n = len(x) // hop
    if n < 2:
        return x
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(20 * np.log10(rms / rms.max()) > -top_db)
    return x[loud[0] * hop: (loud[-1] + 1) * hop] if len(loud) else x


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad to exactly n samples."""
    if x.shape[-1] >= n:
        return x[..., :n]
    out = np.zeros(n, x.dtype)
    out[: x.shape[-1]] = x
    return out


def _short(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
