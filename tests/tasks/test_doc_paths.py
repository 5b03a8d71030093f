"""Every repository path that README.md, docs/ and BENCHMARKS.md name exists (files move; the docs must follow)."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
# a path with a folder of the repository in front, or a bare script / test / document name
NAMED = re.compile(r"(?<![\w./-])((?:audioclust|bench|conf|docs|tests|\.ci)/[\w./-]*[\w/]|[\w-]+\.(?:py|sh|md))(?![\w/-])")


def tracked() -> set[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def missing(text: str, doc: Path, files: set[str]) -> list[str]:
    names = {Path(f).name for f in files}
    folders = {str(p) for f in files for p in Path(f).parents}
    bad = []
    for m in NAMED.finditer(text):
        p = m.group(1).rstrip("./")
        rel = (doc.parent / p).resolve().relative_to(ROOT) if (doc.parent / p).resolve().is_relative_to(ROOT) else None
        if "/" in p:
            ok = p in files or p in folders or str(rel) in files
        else:   # a bare name: a document beside this one, or a script / test somewhere in the repository
            ok = str(rel) in files or p in names
        if not ok:
            bad.append(p)
    return bad


def test_every_path_the_documents_name_exists():
    files = tracked()
    bad = {str(d.relative_to(ROOT)): missing(d.read_text(), d, files) for d in DOCS}
    assert not {d: b for d, b in bad.items() if b}


def test_a_moved_file_is_caught(tmp_path):
    files = tracked()
    doc = ROOT / "docs" / "scale.md"
    assert missing("shards in `audioclust/cluster/shards.py`, see test_slurm.py", doc, files) == ["audioclust/cluster/shards.py"]
    assert missing("see [slurm](slurm.md) and test_nothing_here.py", doc, files) == ["test_nothing_here.py"]
