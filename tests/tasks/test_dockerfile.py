"""The Dockerfile (no image is built here): it parses, uses a CUDA base, installs the GPU FAISS extra (not the CPU
one), copies what the wheel needs, and names console commands that pyproject.toml really declares."""
import re

import tomllib
from common_utils import ROOT


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_parses_and_names_real_entry_points():
    text = (ROOT / "Dockerfile").read_text()
    ins = _instructions(text)
    known = {"FROM", "RUN", "ENV", "COPY", "WORKDIR", "CMD", "ENTRYPOINT", "ARG", "LABEL"}
    assert ins and ins[0][0] == "FROM" and all(w in known for w, _ in ins), ins
    assert "nvidia/cuda" in ins[0][1]
    runs = " ".join(r for w, r in ins if w == "RUN")
    assert "[gpu" in runs and "[cpu" not in runs and "download.pytorch.org/whl/cu" in runs
    for w, r in ins:
        if w == "COPY":
            for src in r.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    named = set(re.findall(r"audioclust-[a-z]+", text))
    assert named and named <= set(scripts), (named, scripts)
    cmd = next(r for w, r in ins if w == "CMD")
    assert any(s in cmd for s in scripts)
