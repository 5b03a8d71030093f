"""The tree reads like the pipeline: every module imports only its own stage and the stages before it
(data -> frontend -> model -> embed -> cluster -> search -> report -> curate -> launch -> tasks -> cli), never a later one. audioclust/api.py
is the tasks' stage (the same steps, from keyword options); the package's __init__ (the API's names) is above all."""
import ast

from common_utils import ROOT

ORDER = ["errors", "checks", "io", "utils", "data", "frontend", "model", "embed", "cluster", "search", "report", "curate",
         "launch", "tasks", "cli"]


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


MAX_TASK_LINES = 40


def test_task_functions_are_short_compositions():
    """Each top-level function of audioclust/tasks/ is at most 40 lines: a task reads as its steps (the same steps
    audioclust/api.py offers), the work being in the stages below."""
    long = [f"{path.name}:{node.name} {node.end_lineno - node.lineno + 1} lines"
            for path in sorted((ROOT / "audioclust" / "tasks").glob("*.py"))
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_TASK_LINES]
    assert not long, long


def _private_imports(path):
    """(module, name) of every `from audioclust.x import _name` in a file."""
    return [(node.module, a.name) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("audioclust")
            for a in node.names if a.name.startswith("_")]


def test_no_private_imports_across_stages():
    """bench/ uses only public names; a test of one stage (tests/<stage>/) may reach its own stage's private
    helpers, not another stage's."""
    bad = [f"{p.relative_to(ROOT)}: {m}.{n}" for p in sorted((ROOT / "bench").rglob("*.py")) for m, n in _private_imports(p)]
    for path in sorted((ROOT / "tests").rglob("*.py")):
        own = path.relative_to(ROOT / "tests").parts[0]
        bad += [f"{path.relative_to(ROOT)}: {m}.{n}" for m, n in _private_imports(path)
                if _stage(m) != _stage(f"audioclust.{own}")]
    assert not bad, bad


def _imported(path) -> set[str]:
    """Every module a file imports, at module level or inside a function (`from audioclust import x`: audioclust.x)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_bench_imports_go_one_way():
    """bench/'s scripts import each other without a circle (shared things live in bench/common.py, bench/sets.py)."""
    from graphlib import CycleError, TopologicalSorter

    scripts = {p.stem: p for p in (ROOT / "bench").glob("*.py")}
    graph = {name: _imported(p) & set(scripts) - {name} for name, p in scripts.items()}
    assert graph["recipes"] >= {"common", "sets"}   # the graph is really read
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as e:
        raise AssertionError(f"bench/ imports in a circle: {' -> '.join(e.args[1])}") from None


def test_quality_benches_embed_and_cluster_through_the_public_api():
    """bench/recipes.py, quality.py, detector.py and choose_encoder.py embed and cluster with audioclust.embed /
    audioclust.cluster, not the task's internals."""
    internal = ("audioclust.tasks", "audioclust.embed.inference", "audioclust.cluster.pipeline")
    bad = {name: sorted(m for m in _imported(ROOT / "bench" / f"{name}.py") if m.startswith(internal))
           for name in ("recipes", "quality", "detector", "choose_encoder")}
    assert not any(bad.values()), bad
    assert "audioclust" in _imported(ROOT / "bench" / "recipes.py")
