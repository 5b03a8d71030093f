"""Google's speech_embedding (as ONNX, shipped inside ``openwakeword``) run by onnxruntime: 96-d frames.

openwakeword's AudioFeatures turns 16 kHz int16 PCM into 32-band log-mels (its melspectrogram.onnx, with its
default ``x / 10 + 2`` transform) and runs the embedding model on windows of 76 mel frames (775 ms) every 8
frames (80 ms). ``embed_clips`` does both but needs equal-length clips whose length is a multiple of 160
samples, so the adapter calls the same per-clip mel step (``_get_melspectrogram``, openwakeword 0.4.0 is pinned).
The embedding model is convolutional along time (no padding in time, three 2x2 max-poolings: one output every
8 frames, the windows' step), so the adapter gives it each clip's whole mel sequence at once (``sequence_model``:
the same graph, its fixed 76-frame input made any length) and reads one embedding per window from one call: the
same bytes as running every window on its own, without computing the frames the windows share again
(BENCHMARKS.md "Where the encoders' time goes, 2 threads": speech against speech-windows). ``clip_batch`` clips
go through it a call.

The model was trained for streaming wake-word detection: a window's embedding describes the sound that ends near
the window's end. A clip is therefore swept through the window, as a stream that starts in silence would be:
each clip gets LEAD s of silence before it and TAIL s after, and its embedding is the mean of every window over
that (windows ending from the clip's start to TAIL s past its end), wherever the sound sits in the clip. On FSDD
digits (bench/recipes.py) this took NMI from 0.30 (clip at the window's start) to 0.90 (0.93 + UMAP).

The two ONNX models (openwakeword's files) run in sessions built here rather than by AudioFeatures: on the GPU
through onnxruntime's CUDA provider where the module is on a GPU and the GPU build (onnxruntime-gpu, the extra
speech-gpu) is installed, else on the CPU with the run's threads (base.cpu_threads). They are built in each process
on first use and never pickled (embed.strategy=ddp_spawn).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
from typing import NamedTuple

import numpy as np
import torch

from audioclust.embed.encoders.base import Encoder, batch_option, cpu_threads, pad_frames, say_once
from audioclust.errors import ConfigError

GPU_INSTALL = "pip install 'audioclust[speech-gpu]' && pip install --no-deps openwakeword==0.4.0"
WINDOW, STEP = 76, 8          # mel frames per embedding window, and the step between windows (openwakeword)
LEAD, TAIL = 0.695, 0.3       # s of silence before (one window less one step) and after each clip
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"
CLIP_BATCH = {"cpu": 4, "cuda": 64}   # clip_batch=null: clips per call (the CPU's fastest, the same bytes)


def sequence_model(path: str) -> bytes:
    """openwakeword's embedding model (``path``) made to take a whole mel sequence, serialised for onnxruntime.

    The graph reads (N, 76, 32, 1) and gives (N, 1, 1, 96). Along time it has no padding, only convolutions of stride 1
    and max-poolings whose time strides multiply to STEP, so over T frames its last map holds (T - 76) // 8 + 1
    outputs, output j the window of frames 8j .. 8j + 75. Its input's time axis becomes any length and its two
    reshapes (which name the 76 and the single output) become the transposes they are for a trailing axis of 1:
    (N, T, 34, 1) -> (N, 1, T, 34) and (N, 96, W, 1) -> (N, W, 1, 96). Any other graph is a one-line ConfigError."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(path)
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    reshapes = [n for n in graph.node if n.op_type == "Reshape"]
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    stride = 1
    for n in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "MaxPool":
            stride *= attrs["strides"][0]
        elif n.op_type == "Conv" and (list(attrs.get("strides", [1, 1]))[0] != 1 or list(attrs.get("pads", [0] * 4))[::2] != [0, 0]):
            stride = 0   # a time stride or time padding: not a sliding window
        elif n.op_type == "Pad" and consts.get(n.input[1], np.ones(8)).reshape(2, -1)[:, 1].any():
            stride = 0   # the input's time axis (NHWC's 1) padded
    shapes = [consts.get(n.input[1], np.zeros(0)).tolist() for n in reshapes]
    if dims[1:] != [WINDOW, 32, 1] or stride != STEP or shapes != [[-1, 1, WINDOW, 34], [-1, 1, 1, 96]]:
        raise ConfigError(f"encoder=speech: {path} is not the embedding model this adapter reads "
                          f"(input {dims}, time stride {stride}, reshapes {shapes})")
    for node, perm in zip(reshapes, ([0, 3, 1, 2], [0, 2, 3, 1])):
        at = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(at, helper.make_node("Transpose", [node.input[0]], list(node.output), name=f"{node.name}_seq", perm=perm))
    for value, axis in ((graph.input[0], "frames"), (graph.output[0], "windows")):
        dim = value.type.tensor_type.shape.dim[1]
        dim.ClearField("dim_value")
        dim.dim_param = axis
    del graph.value_info[:]   # shapes inferred for 76 frames
    onnx.checker.check_model(model)
    return model.SerializeToString()


def providers(device: torch.device, available: list[str]) -> list:
    """onnxruntime's execution providers for a module on ``device``: CUDA (the CPU for any node it lacks) where the
    module is on a GPU and this onnxruntime has the CUDA provider (the GPU build, onnxruntime-gpu), else the CPU."""
    if device.type == "cuda" and CUDA in available:
        return [(CUDA, {"device_id": device.index or 0}), CPU]
    return [CPU]


def why_not_cuda(available: list[str]) -> str:
    """Why a run on a GPU keeps the speech model on the CPU, one clause."""
    if CUDA in available:
        return "onnxruntime's CUDA provider did not load (it needs CUDA 12 and cuDNN 9)"
    installed = {d for d in ("onnxruntime", "onnxruntime-gpu") if _installed(d)}
    if installed == {"onnxruntime", "onnxruntime-gpu"}:
        return ("onnxruntime and onnxruntime-gpu are both installed and the CPU build's files won: "
                f"pip uninstall -y onnxruntime onnxruntime-gpu && {GPU_INSTALL}")
    return f"this onnxruntime is the CPU build: for the GPU, pip uninstall -y onnxruntime && {GPU_INSTALL}"


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


class Sessions(NamedTuple):
    mel: object         # openwakeword's melspectrogram.onnx
    embedding: object   # openwakeword's embedding_model.onnx (Google's speech_embedding)


class SpeechEmbeddingEncoder(Encoder):
    """Frames: one 96-d embedding per 775 ms window, every 80 ms; embedding: their mean. onnxruntime: CPU, or CUDA
    with onnxruntime-gpu."""

    sr = 16000
    embedding_dim = 96
    licence = ("Apache-2.0 upstream (Google speech_embedding, TF Hub); openwakeword says its bundled models are "
               "CC BY-NC-SA 4.0: check before commercial use")
    extra, requires = "speech", ("openwakeword", "onnxruntime", "onnx")   # onnx: sequence_model
    min_seconds = 0.0         # LEAD + TAIL of silence make every clip at least one window long
    cpu_input = True          # onnxruntime takes numpy arrays (and moves them to the GPU itself with CUDA)

    def __init__(self, threads: int | None = None, clip_batch: int | None = None):
        """threads: onnxruntime's intra_op_num_threads; None: the run's (base.cpu_threads). clip_batch: clips (each
        its whole mel sequence, zero-padded to the longest of the call; a batch's clips go in order of length) per
        onnxruntime call of the embedding model; None: CLIP_BATCH for the provider it runs on (on the CPU small
        batches pad least and ran fastest; a GPU wants large ones); the same bytes at any (tests/embed)."""
        super().__init__()
        utils = self.need("openwakeword.utils")
        self.need("onnxruntime")
        self.need("onnx")
        models = os.path.join(os.path.dirname(utils.__file__), "resources", "models")
        self.paths = [os.path.join(models, f) for f in ("melspectrogram.onnx", "embedding_model.onnx")]
        for path in self.paths:
            if not os.path.isfile(path):
                raise ConfigError(f"encoder=speech: {path} is missing; reinstall its extra: {self.install()}")
        batch_option("clip_batch", clip_batch, CLIP_BATCH, "cpu")   # a wrong value stops the run here
        self.threads, self.clip_batch = threads, clip_batch

    def build_runtime(self) -> Sessions:
        ort = self.need("onnxruntime")
        threads, available = cpu_threads(self.threads), ort.get_available_providers()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3    # no warnings (e.g. nodes CUDA leaves to the CPU) on the user's screen
        chosen = providers(self.device, available)
        graphs = (self.paths[0], sequence_model(self.paths[1]))
        if chosen[0] == CPU:
            sessions = Sessions(*(ort.InferenceSession(g, options, providers=chosen) for g in graphs))
        else:   # a CUDA provider that fails to load is onnxruntime's print and log lines: the line below says it
            ort.set_default_logger_severity(4)
            with contextlib.redirect_stdout(io.StringIO()):
                sessions = Sessions(*(ort.InferenceSession(g, options, providers=chosen) for g in graphs))
        if sessions.embedding.get_providers()[0] == CUDA:
            say_once(f"encoder=speech: onnxruntime on {self.device}")
        else:
            why = f" ({why_not_cuda(available)})" if self.device.type == "cuda" else ""
            say_once(f"encoder=speech: onnxruntime on the CPU, {threads} thread{'s' * (threads > 1)} per process{why}")
        return sessions

    @staticmethod
    def pcm16(x: np.ndarray) -> np.ndarray:
        """float waves in [-1, 1] -> the int16 PCM openwakeword takes."""
        return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)

    def mel(self, pcm: np.ndarray) -> np.ndarray:
        """openwakeword's mel frames (T, 32) of one int16 clip: AudioFeatures._get_melspectrogram's steps (its
        model, then its default ``x / 10 + 2``)."""
        spec = np.squeeze(self.runtime.mel.run(None, {"input": pcm[None].astype(np.float32)})[0])
        return np.asarray(spec / 10 + 2, dtype=np.float32).reshape(-1, 32)

    @torch.no_grad()
    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        specs = []
        lead, tail = int(LEAD * self.sr), int(TAIL * self.sr)
        for clip in self.clips(wave, lengths):
            x = clip.cpu().numpy()
            x = np.pad(x, (lead, tail + (-(lead + len(x) + tail)) % 160))   # openwakeword: whole 10 ms hops
            specs.append(self.mel(self.pcm16(x)))
        counts = [len(range(0, len(s) - WINDOW + 1, STEP)) for s in specs]   # windows every STEP frames
        model = self.runtime.embedding
        step = batch_option("clip_batch", self.clip_batch, CLIP_BATCH, "cuda" if model.get_providers()[0] == CUDA else "cpu")
        out: list[torch.Tensor] = [torch.empty(0)] * len(specs)
        order = np.argsort([len(s) for s in specs], kind="stable")   # calls of clips of like length: little padding
        for k in range(0, len(order), step):
            group = order[k:k + step]
            batch = np.zeros((len(group), max(len(specs[i]) for i in group), 32, 1), np.float32)
            for row, i in enumerate(group):   # frames past a clip's end only reach windows past its last one
                batch[row, :len(specs[i]), :, 0] = specs[i]
            z = model.run(None, {"input_1": batch})[0][:, :, 0]   # (clips, windows, 96)
            for row, i in enumerate(group):
                out[i] = torch.from_numpy(z[row, :counts[i]].copy())
        return pad_frames(out, self.embedding_dim)
