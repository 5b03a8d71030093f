"""Compressed audio the tests make for themselves with PyAV (FFmpeg): AAC in .m4a / .mp4 (with a video track), and
the like, as phones and cameras write them."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_av(path, x: np.ndarray, sr: int, fmt: str = "mp4", codec: str = "aac", video: bool = False, start: int = 0) -> Path:
    """Encode `x` ((samples,) mono or (channels, samples)) into `path` (container `fmt`, audio `codec`); with
    `video`, a small MPEG-4 video track (10 frames a second) of the same length beside the sound track; `start`: the
    sound track's first timestamp, in samples (a camera's track that starts after the video's)."""
    import av

    x = np.atleast_2d(np.asarray(x, np.float32))
    layout = "mono" if len(x) == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        a = out.add_stream(codec, rate=sr)
        a.layout = layout
        if video:   # every stream is added before the first packet is written
            v = out.add_stream("mpeg4", rate=10)
            v.width, v.height, v.pix_fmt = 32, 32, "yuv420p"
            for i in range(max(1, int(x.shape[1] / sr * 10))):
                frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), (i * 25) % 256, np.uint8), format="rgb24")
                for packet in v.encode(frame):
                    out.mux(packet)
            for packet in v.encode():
                out.mux(packet)
        for i in range(0, x.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i:i + 1024]), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sr, start + i
            for packet in a.encode(frame):
                out.mux(packet)
        for packet in a.encode():
            out.mux(packet)
    return Path(path)


def decoded_samples(path) -> int:
    """Every sample FFmpeg's decoder gives for the first sound track, decoded to its end (the encoder's padding
    included), counted with PyAV directly."""
    import av

    with av.open(str(path)) as c:
        return sum(frame.samples for frame in c.decode(c.streams.audio[0]))
