"""Which GPUs a FAISS build has kernels for: the CUDA fat binaries of each shared library in a wheel, read in pure Python.

    python bench/faiss_kernels.py /tmp/faisswheels/*.whl [--out FILE]   # downloaded wheels (pip download --no-deps)
    python bench/faiss_kernels.py --installed [--out FILE]              # the FAISS wheel installed here

A library's GPU code sits in its ELF section .nv_fatbin: fat binaries (one per compiled CUDA file) one after
another, each a 16-byte header (magic 0xBA55ED50, version, header size, payload size) and entries, each with its
own header (kind at byte 0: 1 PTX, 2 ELF cubin; header size at 4; padded payload size at 8; sm arch at 28; flags at
40, bit 20: arch-specific, sm_90a), then its payload (often compressed; not read). Checked against cuobjdump
--list-elf --list-ptx (CUDA 13.0) on nvcc-built libraries and on faiss-gpu 1.15.1's libfaiss.so. A GPU of compute capability X.Y runs a cubin for sm_XZ with Z <= Y (same
major), or JIT-compiles PTX for compute_AB <= XY; a fat binary with neither stops FAISS at its first kernel on that
GPU ("no kernel image is available", faiss-wheels issue 151 on H100s). An arch-specific cubin (sm_90a) runs on its
own arch alone.

Per wheel and library: the cubins per sm, the PTX per arch, and, per GPU generation, how many of the library's fat
binaries have a cubin for it (native), only PTX (JIT on first use), or nothing. Writes the section 'FAISS GPU builds'
of BENCHMARKS.md, or --out.
"""
from __future__ import annotations

import argparse
import struct
import zipfile
from collections import Counter
from pathlib import Path

from common import write_section

MAGIC = struct.pack("<I", 0xBA55ED50)
PTX, CUBIN = 1, 2
SPECIFIC = 1 << 20   # entry flag of an arch-specific (sm_90a) cubin
TARGETS = {80: "A100", 89: "L4/L40", 90: "H100/H200", 100: "B200", 120: "RTX 50"}


def elf_section(data: bytes, name: str) -> bytes | None:
    """The bytes of the section `name` of a 64-bit little-endian ELF file, None when it has none."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):  # (name offset, file offset, size)
        h = shoff + i * shentsize
        return struct.unpack_from("<I", data, h)[0], *struct.unpack_from("<QQ", data, h + 0x18)

    strtab = header(shstrndx)[1]
    for i in range(shnum):
        at, off, size = header(i)
        if data[strtab + at:data.index(b"\0", strtab + at)].decode() == name:
            return data[off:off + size]
    return None


def fatbins(section: bytes) -> list[list[tuple[int, int, bool]]]:
    """Each fat binary in a .nv_fatbin section as its entries' (kind, sm arch, arch-specific)."""
    out, pos = [], section.find(MAGIC)
    while pos >= 0:
        hsize, = struct.unpack_from("<H", section, pos + 6)
        size, = struct.unpack_from("<Q", section, pos + 8)
        e, end, entries = pos + hsize, min(pos + hsize + size, len(section)), []
        while e + 32 <= end:
            kind, = struct.unpack_from("<H", section, e)
            ehsize, payload = struct.unpack_from("<IQ", section, e + 4)
            if ehsize == 0:
                break
            arch, = struct.unpack_from("<I", section, e + 28)
            entries.append((kind, arch, bool(struct.unpack_from("<Q", section, e + 40)[0] & SPECIFIC)))
            e += ehsize + payload
        out.append(entries)
        pos = section.find(MAGIC, end)
    return out


def runs_on(entries: list[tuple[int, int, bool]], target: int) -> str:
    """'native', 'ptx' (JIT) or 'none': what a GPU of compute capability `target` (90: 9.0) finds in one fat binary."""
    if any(k == CUBIN and (a == target or not sp and a // 10 == target // 10 and a < target) for k, a, sp in entries):
        return "native"
    return "ptx" if any(k == PTX and a <= target for k, a, _ in entries) else "none"


def libraries(path: str):
    """(name, bytes) of each shared library in a wheel, a folder, or one file."""
    p = Path(path)
    if p.suffix == ".whl":
        with zipfile.ZipFile(p) as z:
            for n in sorted(z.namelist()):
                if n.endswith(".so") or ".so." in Path(n).name:
                    yield n, z.read(n)
    elif p.is_dir():
        for f in sorted(p.rglob("*.so*")):
            yield str(f.relative_to(p)), f.read_bytes()
    else:
        yield p.name, p.read_bytes()


def wheel_needs(path: str) -> dict:
    """A wheel's tags (from its file name), Requires-Python and Requires-Dist (from its METADATA)."""
    with zipfile.ZipFile(path) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    fields = [line.split(": ", 1) for line in meta.split("\n\n")[0].splitlines() if ": " in line]
    return {"tags": "-".join(Path(path).stem.split("-")[2:]),
            "python": next((v for k, v in fields if k == "Requires-Python"), "any"),
            "deps": [v for k, v in fields if k == "Requires-Dist" and "extra ==" not in v]}


def label(path: str) -> str:
    """'name version' of a wheel file, else the path."""
    if not path.endswith(".whl"):
        return path
    name, version = Path(path).name.split("-")[:2]
    return f"{name.replace('_', '-')} {version}"


def installed() -> list[tuple[str, list[Path]]]:
    """The installed FAISS wheel(s) as (name version, their shared libraries)."""
    from importlib import metadata

    from audioclust.cluster.faiss_backend import installed_wheels

    return [(f"{w} {metadata.version(w)} (installed)",
             [Path(f.locate()) for f in metadata.files(w) or [] if f.name.endswith(".so") or ".so." in f.name])
            for w in installed_wheels()]


def scan(label: str, libs) -> list[dict]:
    """One row per ELF library: its fat binaries' cubins and PTX per arch and its coverage of TARGETS."""
    rows = []
    for name, data in libs:
        if data[:4] != b"\x7fELF":
            continue
        section = elf_section(data, ".nv_fatbin")
        bins = fatbins(section) if section is not None else []
        entries = [e for b in bins for e in b]
        rows.append({"build": label, "library": name, "fatbins": len(bins),
                     "cubin": Counter(f"{a}{'a' * sp}" for k, a, sp in entries if k == CUBIN),
                     "ptx": Counter(str(a) for k, a, _ in entries if k == PTX),
                     "cover": {t: Counter(runs_on(b, t) for b in bins) for t in TARGETS}})
    return rows


def _counts(c: Counter, prefix: str) -> str:
    return ", ".join(f"{prefix}{a} ×{n}" for a, n in sorted(c.items(), key=lambda an: (int(an[0].rstrip("a")), an[0]))) or "none"


def _cover(c: Counter, n: int) -> str:
    if not n:
        return "–"
    if len(c) == 1:
        return {"native": "native", "ptx": "PTX JIT", "none": "**none**"}[next(iter(c))]
    return ", ".join(f"{c[k]}/{n} {k}" for k in ("native", "ptx", "none") if c[k])


def table(rows: list[dict]) -> str:
    head = ["build", "library", "fat binaries", "cubins per sm", "PTX per arch"] + [f"sm_{t} ({g})" for t, g in TARGETS.items()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for build in dict.fromkeys(r["build"] for r in rows):
        if not any(r["fatbins"] for r in rows if r["build"] == build):
            lines.append(f"| {build} | none of its {sum(r['build'] == build for r in rows)} libraries | 0 |" + " |" * (len(head) - 3))
    for r in (r for r in rows if r["fatbins"]):
        cells = [r["build"], f"`{Path(r['library']).name}`", str(r["fatbins"]), _counts(r["cubin"], "sm_"),
                 _counts(r["ptx"], "compute_")] + [_cover(r["cover"][t], r["fatbins"]) for t in TARGETS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*", help="wheels (.whl), folders or shared libraries")
    ap.add_argument("--installed", action="store_true", help="the FAISS wheel installed in this environment")
    ap.add_argument("--out", help="write the table to this file instead of BENCHMARKS.md")
    args = ap.parse_args(argv)
    builds = [(label(p), libraries(p)) for p in args.paths]
    if args.installed:
        builds += [(label, ((str(f), f.read_bytes()) for f in files)) for label, files in installed()]
    if not builds:
        ap.error("give wheels, folders or libraries, or --installed")
    rows = [r for label, libs in builds for r in scan(label, libs)]
    text = ("## FAISS GPU builds: kernels per GPU (bench/faiss_kernels.py)\n\n"
            "The CUDA fat binaries (.nv_fatbin) of every shared library in each build, read from the files (no GPU "
            "needed). Per GPU: native (a cubin it runs), PTX JIT (compiled at first use), none (FAISS stops: no "
            "kernel image); 'a/n' when the library's n fat binaries differ.\n\n" + table(rows) + "\n")
    wheels = [p for p in args.paths if p.endswith(".whl")]
    if wheels:
        text += "\nWhat each wheel needs (its file name's tags, its METADATA):\n\n| build | tags | Requires-Python | Requires-Dist |\n|---|---|---|---|\n"
        for p in wheels:
            need = wheel_needs(p)
            text += f"| {label(p)} | {need['tags']} | {need['python']} | {', '.join(need['deps'])} |\n"
    print(text)
    write_section("FAISS GPU builds", text, args.out)


if __name__ == "__main__":
    main()
