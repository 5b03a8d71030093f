"""Exactly one FAISS wheel: both (they shadow each other) or none stop the cluster task with one line naming pip."""
from importlib import metadata

import pytest

from audioclust.cluster import faiss_backend
from audioclust.errors import ConfigError


def _installed(monkeypatch, names):
    def version(name):
        if name in names:
            return "1.14.0"
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(faiss_backend.metadata, "version", version)


def test_the_installed_wheel_loads():
    faiss = faiss_backend.load_faiss()
    assert hasattr(faiss, "Kmeans") and len(faiss_backend.installed_wheels()) == 1


@pytest.mark.parametrize("gpu", ["faiss-gpu", "faiss-gpu-cu12", "faiss-gpu-cu12-cuvs", "faiss-cuda"])   # the [gpu] extra's, older ones
def test_both_wheels_say_which_to_uninstall(monkeypatch, gpu):
    _installed(monkeypatch, {"faiss-cpu", gpu})
    with pytest.raises(ConfigError, match=rf"^both faiss-cpu and {gpu} are installed .*pip uninstall -y faiss-cpu") as e:
        faiss_backend.load_faiss()
    assert "\n" not in str(e.value)


def test_the_gpu_extra_is_a_known_gpu_wheel():
    """pyproject's [gpu] extra installs a wheel that the both-wheels check knows."""
    import re

    import tomllib
    from common_utils import ROOT

    (req,) = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert re.match(r"[A-Za-z0-9_.-]+", req)[0] in faiss_backend.GPU


def test_no_faiss_names_the_extras(monkeypatch):
    _installed(monkeypatch, set())
    monkeypatch.setitem(__import__("sys").modules, "faiss", None)   # import faiss -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'audioclust\[cpu\]' \(or 'audioclust\[gpu\]'"):
        faiss_backend.load_faiss()
