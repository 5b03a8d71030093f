"""Shared by the bench scripts: their BENCHMARKS.md section, the machine line (CPU, cores, load: the CPU may be
shared), peak memory, the text of a section (the method line, a figure over seeds), a data set's Debian package. Imports no other bench module
(they import it)."""
from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def method_text(doc: str) -> str:
    """A bench's method as its section gives it after the command: its docstring from the third paragraph on, one line."""
    return doc.split("\n\n", 2)[2].replace("\n", " ").strip()


def mean_std(values) -> str:
    """A quality figure over seeds as the tables give it: mean ± std, 3 decimals."""
    import numpy as np

    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


ARCHIVE = "Archive"   # BENCHMARKS.md: the sections after '## Archive' were measured under older defaults


def write_section(title: str, text: str, out: str | None = None) -> None:
    """The section `title` of BENCHMARKS.md (replace_section), or, with `out` (a bench's --out), the file `out`
    instead, written atomically."""
    from audioclust.io import write_text

    if out:
        write_text(out, text)
        return
    replace_section(title, text)


def replace_section(title: str, text: str, path: Path | None = None) -> None:
    """Replace the '## <title>' section of BENCHMARKS.md (or `path`; atomic write). The new text goes after the
    current sections, before the '## Archive' part, so an archived section that a bench rewrites moves back up."""
    from audioclust.io import write_text

    path = path or ROOT / "BENCHMARKS.md"
    old = path.read_text() if path.exists() else "# Benchmarks\n\nWritten by the scripts in bench/.\n\n"
    parts = old.split("\n## ")
    kept = [parts[0].rstrip() + "\n"] + ["## " + p.rstrip() + "\n" for p in parts[1:]
                                         if not _titled(p.split("\n", 1)[0], title) or p.split("\n", 1)[0] == ARCHIVE]
    at = next((i for i, s in enumerate(kept) if i and s.split("\n", 1)[0] == "## " + ARCHIVE), len(kept))
    write_text(path, "\n".join(kept[:at] + [text.rstrip() + "\n"] + kept[at:]))


def _titled(heading: str, title: str) -> bool:
    """A section's heading is `title`, or `title` with the machine it ran on in parentheses ("k-means (100,000
    points ...)"); "Recipes x data sets: sfx" is not the section "Recipes x data sets"."""
    return heading.strip() == title or heading.startswith(title + " (")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU model, cores, RAM, load average at the start (the machine may be shared)."""
    from importlib.metadata import version

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{cpu_name()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, no GPU, torch {version('torch')}; "
            f"load average at start {load} (machine shared with other work)")


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB: VmHWM of /proc/self/status (it starts afresh at exec,
    unlike ru_maxrss, which a child inherits from the parent that forked it), else ru_maxrss."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakAnon:
    """Polls RssAnon (heap, not file pages of memory maps) of this process every `every` s; .mb is the peak."""

    def __init__(self, every: float = 0.02):
        import threading

        self.kb, self.every, self.done = 0, every, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self.done.is_set():
            for line in open("/proc/self/status"):
                if line.startswith("RssAnon"):
                    self.kb = max(self.kb, int(line.split()[1]))
            self.done.wait(self.every)

    @property
    def mb(self) -> float:
        return self.kb / 1024


def deb_set(package: str, out: Path, members: list[str], copyright: str, entries, class_of) -> dict[str, int]:
    """A labelled set built once from Debian's `package` into `out` (nothing to do when it holds this version): the
    .deb downloaded, `members` (tar paths, wildcards allowed) and `copyright` unpacked into a temporary folder, then
    each (path, read) of entries(that folder) whose class_of(path) is not None written as <class>/<path with / as __>
    (read() gives its bytes); the package's copyright file goes beside them, and the set replaces `out` at once when
    complete. The count per class."""
    import re
    import shutil
    import subprocess
    import tempfile

    version = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    version = re.search(r"Candidate: (\S+)", version).group(1)
    done = out / ".complete"
    if done.is_file() and done.read_text() == f"{package} {version}":
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        deb = apt_download(package, tmp)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tmp, "--wildcards", *members, copyright], stdin=tar.stdout, check=True)
        tar.wait()
        deb.unlink()
        part = out.with_name(out.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        counts: dict[str, int] = {}
        for path, read in entries(Path(tmp)):
            c = class_of(path)
            if c:
                (part / c).mkdir(parents=True, exist_ok=True)
                (part / c / path.replace("/", "__")).write_bytes(read())
                counts[c] = counts.get(c, 0) + 1
        shutil.copyfile(Path(tmp) / copyright, part / "COPYRIGHT")
        (part / ".complete").write_text(f"{package} {version}")
        shutil.rmtree(out, ignore_errors=True)
        part.rename(out)
    return counts


def first_class(name: str, classes: dict[str, str]) -> str | None:
    """The class whose pattern (re.match) fits name; None where none does (two that fit: an error in the rule)."""
    import re

    found = [c for c, pattern in classes.items() if re.match(pattern, name)]
    assert len(found) <= 1, (name, found)
    return found[0] if found else None


def say_set(out: Path, counts: dict[str, int]) -> None:
    """A set's folder, and its classes' counts when it was just built."""
    if counts:
        print(f"{out}: {sum(counts.values())} files, {len(counts)} classes: "
              + ", ".join(f"{c} {n}" for c, n in sorted(counts.items())))
    print(out)


def apt_download(package: str, folder) -> Path:
    """Debian's package `package` downloaded into `folder` with apt-get (a data set's source; no install, no root
    needed where apt's sandbox user can write there), its .deb path; one line and exit where it cannot be fetched."""
    import subprocess

    os.chmod(folder, 0o755)   # apt's sandbox user writes the download here
    got = subprocess.run(["apt-get", "download", "-q", package], cwd=folder, capture_output=True, text=True)
    if got.returncode:
        got = subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package], cwd=folder,
                             capture_output=True, text=True)
    if got.returncode:
        raise SystemExit(f"{package}: apt-get download failed (apt-get update?): {got.stderr.strip()[-300:]}")
    return next(Path(folder).glob(f"{package}_*.deb"))
