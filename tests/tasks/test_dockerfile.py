"""The Dockerfile (no image is built here): it parses, runs Python 3.11, installs a CUDA 12 torch of the tested
release series and the GPU FAISS extra (not the CPU one), copies what the wheel needs, names console commands that
pyproject.toml really declares, gives every `docker run` line enough shared memory, and has the optional encoders
layer that `make install-encoders` installs."""
import re

import tomllib
from common_utils import ROOT
from packaging.requirements import Requirement
from packaging.version import Version

TEXT = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


INS = _instructions(TEXT)
ARGS = dict(a.split("=", 1) for w, a in INS if w == "ARG")


def _runs() -> list[str]:
    """RUN lines with the build args' defaults put in."""
    return [re.sub(r"\$\{?(\w+)\}?", lambda m: ARGS.get(m.group(1), m.group(0)), r) for w, r in INS if w == "RUN"]


def test_dockerfile_parses_and_names_real_entry_points():
    known = {"FROM", "RUN", "ENV", "COPY", "WORKDIR", "CMD", "ENTRYPOINT", "ARG", "LABEL"}
    assert INS and INS[0][0] in ("FROM", "ARG") and all(w in known for w, _ in INS), INS
    for w, r in INS:
        if w == "COPY":
            for src in r.split()[:-1]:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    scripts = PYPROJECT["project"]["scripts"]
    named = set(re.findall(r"audioclust-[a-z]+", TEXT))
    assert named and named <= set(scripts), (named, scripts)
    cmd = next(r for w, r in INS if w == "CMD")
    assert any(s in cmd for s in scripts)


def test_python_311():
    base = next(r for w, r in INS if w == "FROM")
    runs = " ".join(_runs())
    assert re.fullmatch(r"python:3\.11(\.\d+)?(-[a-z]+)?", base) or re.search(r"python3\.11 |uv python install 3\.11", runs), base


def test_torch_is_a_cuda_12_build_of_the_tested_series_with_the_gpu_faiss_extra():
    (line,) = [r for r in _runs() if re.search(r"\btorch[=<>]", r)]
    pin = re.search(r"torch==([\d.]+)\.\*", line).group(1)
    cuda = re.search(r"download\.pytorch\.org/whl/cu(\d\d)(\d)\b", line)
    assert cuda and cuda.group(1) == "12", line    # the same CUDA major as the FAISS GPU wheel (checked below)
    tested = re.search(r"^TORCH := torch==(\d+\.\d+)\.", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert pin == tested, (pin, tested)            # the release series the tests run on
    floor = next(Requirement(d) for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch"))
    assert floor.specifier.contains(Version(pin + ".0")), (pin, str(floor))
    installs = [r for r in _runs() if "/src[" in r]
    main = re.search(r"/src\[([a-z,]+)\]", installs[0]).group(1).split(",")
    assert "gpu" in main and "cpu" not in main, main
    for req in PYPROJECT["project"]["optional-dependencies"]["gpu"]:
        major = re.search(r"-cu(\d+)", Requirement(req).name)
        assert major is None or major.group(1) == cuda.group(1), (req, line)


def test_usage_lines_give_shared_memory():
    usage = re.findall(r"^#\s+docker run .*$", re.sub(r"\\\n#", " ", TEXT), re.M)   # the usage lines, joined
    assert len(usage) == 3, usage
    for ln in usage:
        shm = re.search(r"--shm-size=(\d+)([gGmM])", ln)
        assert "--ipc=host" in ln or (shm and int(shm.group(1)) * (1024 if shm.group(2) in "gG" else 1) >= 1024), ln


def test_encoders_layer_installs_what_make_install_encoders_does():
    assert ARGS.get("ENCODERS") == "0"   # off unless --build-arg ENCODERS=1
    (layer,) = [r for w, r in INS if w == "RUN" and "$ENCODERS" in r]
    assert re.search(r'if \[ "\$ENCODERS" = 1 \]; then', layer), layer
    from audioclust.embed.encoders.registry import install_all  # what make install-encoders installs (its recipe reads it)

    def extras_and_no_deps(text, gpu=False):
        extras = set(re.search(r"\[([a-z,-]+)\]", text).group(1).split(","))
        no_deps = set(re.search(r"--no-deps ([^;&\n]+)", text).group(1).split())
        if gpu:   # a CUDA image: the speech model's onnxruntime with its CUDA provider (one of the two, never both:
            # openwakeword, which requires the CPU build, without its dependencies)
            assert "speech" not in extras and "speech-gpu" in extras, text
            extras, no_deps = extras - {"speech-gpu"} | {"speech"}, no_deps - {"openwakeword==0.4.0"}
        return extras, no_deps
    extras, no_deps = install_all()
    assert extras_and_no_deps(layer, gpu=True) == (set(extras), set(no_deps)), (layer, extras, no_deps)
