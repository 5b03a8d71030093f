"""bench/faiss_kernels.py on a shared library made here: a minimal 64-bit ELF whose .nv_fatbin holds two fat binaries
laid out as nvcc writes them (checked against cuobjdump on nvcc-built libraries), inside a wheel; and on the
installed CPU FAISS, which carries no GPU code. No GPU wheel is downloaded."""
import struct
import subprocess
import sys
import zipfile

from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import faiss_kernels  # noqa: E402

PTX, CUBIN = 1, 2


def entry(kind: int, arch: int, specific: bool = False, payload: bytes = b"\x28\xb5\x2f\xfd" + b"x" * 37) -> bytes:
    """One fat binary entry: a 64-byte header (kind, version, header size, padded payload size, arch at 28, flags at
    40), then the payload padded to 8 bytes."""
    padded = payload + b"\0" * (-len(payload) % 8)
    head = struct.pack("<HHIQIIHHIQQ", kind, 0x0101, 64, len(padded), len(payload), 0, 8, 1, arch, 0,
                       0x11 | (1 << 20 if specific else 0))
    return head + b"\0" * (64 - len(head)) + padded


def fatbin(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IHHQ", 0xBA55ED50, 1, 16, len(body)) + body


def elf(sections: dict[str, bytes]) -> bytes:
    """A 64-bit little-endian ELF file with these sections (and the section name table), no program headers."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n in [*sections, ".shstrtab"])
    blobs, offsets, pos = [*sections.values(), names], [], 64
    for b in blobs:
        offsets.append(pos)
        pos += len(b)
    shoff = pos + (-pos % 8)
    head = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 0, 0,
                                                                  64, len(blobs) + 1, len(blobs))
    shdrs, at = [b"\0" * 64], 1
    for name, b, off in zip([*sections, ".shstrtab"], blobs, offsets):
        shdrs.append(struct.pack("<IIQQQQIIQQ", at, 1 if name != ".shstrtab" else 3, 0, 0, off, len(b), 0, 0, 1, 0))
        at += len(name) + 1
    data = head + b"".join(blobs)
    return data + b"\0" * (shoff - len(data)) + b"".join(shdrs)


OLD = fatbin(entry(CUBIN, 70), entry(CUBIN, 80))                                        # like faiss-gpu-cu12 1.14
NEW = fatbin(entry(CUBIN, 80), entry(CUBIN, 90, specific=True), entry(PTX, 90, payload=b".version 8.0\n"))


def test_reads_the_entries_of_each_fat_binary():
    lib = elf({".text": b"\x90" * 40, ".nv_fatbin": OLD + b"\0" * 8 + NEW, ".data": b"\1" * 16})
    bins = faiss_kernels.fatbins(faiss_kernels.elf_section(lib, ".nv_fatbin"))
    assert bins == [[(CUBIN, 70, False), (CUBIN, 80, False)], [(CUBIN, 80, False), (CUBIN, 90, True), (PTX, 90, False)]]
    assert faiss_kernels.elf_section(lib, ".nv_relfatbin") is None


def test_which_code_a_gpu_runs():
    runs = faiss_kernels.runs_on
    assert runs([(CUBIN, 80, False)], 86) == "native"            # same major, older minor
    assert runs([(CUBIN, 86, False)], 80) == "none"              # never a newer minor
    assert runs([(CUBIN, 80, False)], 90) == "none"              # never another major: the H100 abort
    assert runs([(CUBIN, 90, True)], 90) == "native"             # sm_90a on sm_90 ...
    assert runs([(CUBIN, 90, True), (PTX, 90, False)], 100) == "ptx"   # ... not beyond: there PTX is JIT-compiled
    assert runs([(PTX, 100, False)], 90) == "none"               # PTX of a newer arch does not compile down


def test_table_of_a_wheel_and_of_the_cpu_build(tmp_path):
    whl = tmp_path / "faiss_demo-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("faiss/_swigfaiss.so", elf({".text": b"\x90" * 8}))
        z.writestr("faiss_demo.libs/libfaiss-0a1b.so", elf({".nv_fatbin": OLD + NEW}))
        z.writestr("faiss/__init__.py", "")
        z.writestr("faiss_demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: faiss-demo\nVersion: 1.0\n"
                   "Requires-Python: >=3.10\nRequires-Dist: numpy>=1.25\nRequires-Dist: nvidia-cublas-cu12<13,>=12.6\n"
                   'Requires-Dist: pytest; extra == "test"\n\nRequires-Dist: in the description\n')
    out = tmp_path / "table.md"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "faiss_kernels.py"), str(whl), "--installed", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    kernels, needs = ([[c.strip() for c in line.strip("|").split("|")] for line in block.splitlines() if line.startswith("| ")]
                      for block in out.read_text().split("\n\n") if block.startswith("| build"))
    assert kernels[0][5:8] == ["sm_80 (A100)", "sm_89 (L4/L40)", "sm_90 (H100/H200)"]
    body = {r[0]: r for r in kernels[1:]}
    demo = body["faiss-demo 1.0"]
    assert demo[1:5] == ["`libfaiss-0a1b.so`", "2", "sm_70 ×1, sm_80 ×2, sm_90a ×1", "compute_90 ×1"]
    assert demo[5:] == ["native", "native", "1/2 native, 1/2 none", "1/2 ptx, 1/2 none", "1/2 ptx, 1/2 none"]
    cpu = next(r for k, r in body.items() if k.startswith("faiss-cpu"))   # the installed CPU wheel: no GPU code
    assert cpu[1].startswith("none of its") and cpu[2] == "0"
    assert needs[1:] == [["faiss-demo 1.0", "cp311-cp311-linux_x86_64", ">=3.10", "numpy>=1.25, nvidia-cublas-cu12<13,>=12.6"]]
