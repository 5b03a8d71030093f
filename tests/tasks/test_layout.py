"""The tree reads like the pipeline: every module imports only its own stage and the stages before it
(data -> frontend -> model -> embed -> cluster -> report -> launch -> tasks -> cli), never a later one. audioclust/api.py
is the tasks' stage (the same steps, from keyword options); the package's __init__ (the API's names) is above all."""
import ast

from common_utils import ROOT

ORDER = ["errors", "checks", "io", "utils", "data", "frontend", "model", "embed", "cluster", "report", "launch",
         "tasks", "cli"]


SAME_STAGE = {"api": "tasks"}


def _stage(module: str) -> int:
    parts = module.split(".")
    if module == "audioclust":
        return len(ORDER)
    part = SAME_STAGE.get(parts[1], parts[1]) if len(parts) > 1 else ""
    return ORDER.index(part) if part in ORDER else -1


def test_imports_go_one_way_down_the_pipeline():
    bad = []
    for path in sorted((ROOT / "audioclust").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        here = _stage(name)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audioclust"):
                targets = [node.module] if node.module != "audioclust" else [f"audioclust.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("audioclust")]
            bad += [f"{name} imports {t}" for t in targets if _stage(t) > here]
    assert not bad, bad


def test_every_package_folder_is_in_the_wheel():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "audioclust").rglob("__init__.py")}
    assert found | {"audioclust.conf"} == listed
