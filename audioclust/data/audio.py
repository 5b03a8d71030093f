"""Find audio files in a folder and decode them: soundfile, mono mix, soxr resampling."""
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
EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".w64", ".caf", ".opus")


@dataclass(frozen=True)
class AudioInfo:
    path: str
    frames: int
    samplerate: int
    channels: int


def list_audio_files(root: str | os.PathLike, extensions=EXTENSIONS) -> list[Path]:
    """Every path under `root` (recursive, sorted) whose name ends in an audio extension."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"data root does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"data root is not a folder: {root}")
    exts = tuple(e.lower() for e in extensions)
    found = []
    for folder, dirs, files in os.walk(root):
        # a directory named like audio is listed too, so that it is reported as skipped
        found += [Path(folder) / n for n in files + dirs if n.lower().endswith(exts)]
    return sorted(found)


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
    the stretch, to `margin` seconds after it, resampled, and cut: the result does not depend on where the
    stretch starts or ends, so a window cut out of a long chunk equals the window decoded on its own."""
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
        if not str(path).lower().endswith((".wav", ".wave")):   # other formats: straight to libsndfile
            raise wave.Error("not a WAV file")
        x, native = _read_pcm16_wav(path, start, duration)
    except (wave.Error, EOFError, OSError, ValueError):  # not plain 16-bit PCM WAV: libsndfile reads it
        x, native = _read_soundfile(path, start, duration)
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x, native


def _native_rate(path: str) -> int:
    """The file's own sample rate, from its header."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getframerate()
    except (wave.Error, EOFError, OSError, ValueError):
        try:
            return sf.info(str(path)).samplerate
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
