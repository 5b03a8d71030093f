"""BENCHMARKS.md: bench/common.py's replace_section puts a new or rewritten section above '## Archive' (an archived
section that a bench rewrites moves back up, nothing else moves); the file opens with a one-screen summary whose
pointers name existing sections, with their dates; the archived sections are dated, oldest first; README.md and
docs/ link to headings that exist."""
import re
import sys

from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from common import replace_section as write_section  # noqa: E402

DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def titles(text: str) -> list[str]:
    return [p.split("\n", 1)[0] for p in text.split("\n## ")[1:]]


def test_write_section_goes_above_the_archive(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nSummary.\n\n## A\n\na\n\n## Archive\n\nOlder defaults.\n\n"
                    "## Old (AMD EPYC)\n\n*2026-01-01*\n\nold figure\n\n## Earlier\n\nx\n")
    write_section("New", "## New\n\nnew\n", path)
    assert titles(path.read_text()) == ["A", "New", "Archive", "Old (AMD EPYC)", "Earlier"]
    write_section("Old", "## Old (Intel Xeon)\n\nre-measured\n", path)   # an archived section rewritten: back up
    text = path.read_text()
    assert titles(text) == ["A", "New", "Old (Intel Xeon)", "Archive", "Earlier"]
    assert "re-measured" in text and "old figure" not in text and "Older defaults." in text
    write_section("A", "## A\n\na again", path)   # a current one rewritten: last of the current ones
    text = path.read_text()
    assert titles(text) == ["New", "Old (Intel Xeon)", "A", "Archive", "Earlier"]
    assert text.startswith("# Benchmarks\n\nSummary.\n\n## New\n")
    assert "a again\n\n## Archive\n" in text


def test_a_section_whose_title_starts_another_leaves_it(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Recipes\n\nr\n\n## Recipes: sfx (whole files)\n\ns\n\n## Archive\n")
    write_section("Recipes", "## Recipes (Intel Xeon)\n\nr again\n", path)
    assert titles(path.read_text()) == ["Recipes: sfx (whole files)", "Recipes (Intel Xeon)", "Archive"]
    write_section("Recipes", "## Recipes\n\nr third\n", path)   # the one with its machine in parentheses too
    assert titles(path.read_text()) == ["Recipes: sfx (whole files)", "Recipes", "Archive"]


def test_write_section_without_an_archive_appends(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section("A", "## A\n\na\n", path)   # no file yet: the header, then the section
    write_section("B", "## B\n\nb\n", path)
    write_section("A", "## A\n\na2\n", path)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n") and titles(text) == ["B", "A"] and "a2" in text and "\na\n" not in text


def test_benchmarks_opens_with_a_summary_and_ends_with_a_dated_archive():
    text = (ROOT / "BENCHMARKS.md").read_text()
    head = text.split("\n## ", 1)[0]
    assert 30 <= len(head.splitlines()) <= 70, "the summary should fit on one screen"
    names = titles(text)
    pointers = re.findall(r'"([^"]+)" \((\d{4}-\d{2}-\d{2})\)', head)
    assert len(pointers) >= 10
    assert [n for n, _ in pointers if not any(t.startswith(n) for t in names)] == []
    assert names.count("Archive") == 1
    archived = text.split("\n## Archive\n", 1)[1].split("\n## ")[1:]
    dates = [DATE.search("\n".join(s.split("\n\n")[:2])) for s in archived]   # in the title or the first line
    assert archived and all(dates), "every archived section says when it was measured"
    assert [d.group() for d in dates] == sorted(d.group() for d in dates), "archive: oldest first"
    assert not re.findall(r"(?<![\w~.])/(?:work|root|home)/\S*", text), "a machine's path in a recorded command"


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_benchmarks_headings_exist():
    text = (ROOT / "BENCHMARKS.md").read_text()
    anchors = {anchor(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}
    links = [(doc.name, a) for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for a in re.findall(r"BENCHMARKS\.md#([\w-]+)", doc.read_text())]
    assert links, "README.md and docs/ point to the summary"
    assert [link for link in links if link[1] not in anchors] == []
