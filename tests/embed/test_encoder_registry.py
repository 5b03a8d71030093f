"""The encoder registry (audioclust/embed/encoders/registry.py): conf/encoder/*.yaml as shipped, each adapter's own
declarations, and what reads them: docs/encoders.md's table and adapter contract, `make install-encoders`'s pip
commands, config errors and encoder=auto's default candidates. No encoder package is needed."""
import os
import re
import subprocess
import sys

import pytest
import tomllib
import torch
from common_utils import ROOT
from omegaconf import OmegaConf

from audioclust.embed.encoders import registry
from audioclust.embed.encoders.base import Encoder
from audioclust.errors import ConfigError
from audioclust.tasks.builders import encoder_node

DOC = (ROOT / "docs" / "encoders.md").read_text()
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_the_registry_is_the_config_group():
    assert list(registry.names()) == sorted(p.stem for p in (ROOT / "conf" / "encoder").glob("*.yaml"))
    for name in registry.names():   # each yaml records its own file name
        assert OmegaConf.load(ROOT / "conf" / "encoder" / f"{name}.yaml").name == name
    # blockae (a train.py run) and auto (a choice) have no adapter; mix is a composite, not pretrained
    assert registry.adapter("blockae") is None and registry.adapter("auto") is None
    assert issubclass(registry.adapter("mix"), Encoder) and not registry.adapter("mix").pretrained
    assert {"aisfx", "birdnet", "speech", "speaker"} <= set(registry.pretrained())
    assert not {"blockae", "auto", "mix"} & set(registry.pretrained())


@pytest.mark.parametrize("name", registry.pretrained())
def test_each_pretrained_adapter_declares_what_installs_it(name):
    cls = registry.adapter(name)
    assert issubclass(cls, Encoder) and cls.requires and cls.licence and "\n" not in cls.licence
    assert cls.extra in EXTRAS, f"encoder={name}: extra {cls.extra!r} is not in pyproject.toml"
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", p) for p in cls.no_deps), cls.no_deps
    assert cls.install().startswith(f"pip install 'audioclust[{cls.extra}]'")
    assert all(p in cls.install() for p in cls.no_deps)


def test_docs_table_rows_match_the_registry():
    rows = {}
    for line in DOC.splitlines():
        m = re.match(r"\| `([a-z0-9_-]+)` \| [^|]+ \| `([^`]+)`[^|]* \| ([^|]+) \| \d", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3).strip().strip("*"))
    assert set(rows) == set(registry.pretrained())
    for name, (install, licence) in rows.items():
        assert install == registry.adapter(name).install(), name
        assert licence == registry.adapter(name).licence, name


def _bullets(text: str, after: str) -> str:
    """The first bullet list after the line holding `after`, with whitespace collapsed."""
    lines = text[text.index(after):].splitlines()[1:]
    while not lines[0].strip().startswith("- "):
        lines.pop(0)
    block = []
    for ln in lines:
        if not ln.strip() or ln.strip().startswith('"""'):
            break
        block.append(ln.strip())
    return " ".join(" ".join(block).split())


def test_docs_adapter_contract_is_the_base_class_docstring():
    assert _bullets(Encoder.__doc__, "The adapter contract") == _bullets(DOC, "The adapter contract")


class _Ramp(Encoder):
    """The smallest adapter: one frame per clip, its valid samples' mean."""
    sr, embedding_dim, licence, min_seconds = 8000, 1, "none", 0.0

    def frames(self, wave, lengths):
        n = lengths.clamp_min(1).to(wave.dtype)
        return (wave.cumsum(1).gather(1, (lengths.clamp_min(1) - 1)[:, None]) / n[:, None])[:, :, None], \
            torch.ones(len(wave), 1, dtype=torch.bool)


def test_predict_step_returns_the_keys_the_docs_list():
    wave = torch.tensor([[1.0, 1.0, 5.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
    batch = {"wave": wave, "length": torch.tensor([2, 4]), "sample_id": torch.tensor([7, 8]),
             "ok": torch.tensor([True, True])}
    out = _Ramp().predict_step(batch, 0)
    listed = re.search(r"`predict_step\(batch\)`: `\{([^}]*)\}`", DOC).group(1)
    assert set(out) == {k.strip().strip('"') for k in listed.split(",")}
    assert "power" in out and out["embedding"][:, 0].tolist() == [1.0, 2.0]   # the first `length` samples only
    assert out["power"].tolist() == pytest.approx([1.0, 4.0])   # each clip's valid samples' mean square


def test_make_install_encoders_installs_what_the_registry_declares(tmp_path):
    """The recipe run by make with a pip that records its arguments: the registry's extras, then its --no-deps pins."""
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n')
    for f in ("python", "pip"):
        (venv / "bin" / f).chmod(0o755)
    (venv / ".installed").touch()
    p = subprocess.run(["make", "-s", f"VENV={venv}", f"{venv}/.installed-encoders"], cwd=ROOT, capture_output=True,
                       text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    extras = [registry.adapter(n).extra for n in registry.pretrained()]
    pins = [q for n in registry.pretrained() for q in registry.adapter(n).no_deps]
    assert log.read_text().splitlines() == [f"install -q -e .[{','.join(extras)}]", f"install -q --no-deps {' '.join(pins)}"]
    assert (venv / ".installed-encoders").is_file()


def test_config_errors_name_the_registry():
    with pytest.raises(ConfigError, match="'mix' is not a pretrained encoder: use " + ", ".join(registry.pretrained())):
        encoder_node("mix")
    assert encoder_node("speaker").name == "speaker"


def test_cli_prints_each_encoder():
    out = subprocess.run([sys.executable, "-m", "audioclust.embed.encoders.registry"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [ln.split("\t")[0] for ln in out] == list(registry.pretrained())
    assert all(ln.split("\t")[1] == registry.adapter(ln.split("\t")[0]).install() for ln in out)


@pytest.mark.slow
def test_auto_defaults_to_every_pretrained_encoder(tmp_path):
    """encoder=auto without candidates tries every pretrained encoder of the registry, in its order: with each one's
    own package made unimportable (a shim), one line naming each one's install command, exit 2."""
    import soundfile as sf
    from common_utils import tone

    for mod in {registry.adapter(n).requires[0] for n in registry.pretrained()}:
        (tmp_path / "shim" / mod).mkdir(parents=True)
        (tmp_path / "shim" / mod / "__init__.py").write_text(f"raise ImportError('No module named {mod} (test shim)')\n")
    (tmp_path / "clips").mkdir()
    sf.write(tmp_path / "clips" / "a.wav", tone(440), 16000)
    path = os.pathsep.join([str(tmp_path / "shim"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run([sys.executable, "cluster.py", "encoder=auto", f"data.root={tmp_path}/clips", "kmeans.k=1",
                        "wandb.enabled=false", f"hydra.run.dir={tmp_path}/out"], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=path, HYDRA_FULL_ERROR="0"), timeout=300)
    assert p.returncode == 2, p.stderr[-3000:]
    (error,) = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert "encoder=auto: none of the candidates is installed: " in error and "Traceback" not in p.stderr
    found = [error.index(f"encoder={n}") for n in registry.pretrained()]
    assert found == sorted(found) and all(registry.adapter(n).install() in error for n in registry.pretrained())
