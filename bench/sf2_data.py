"""Three more labelled one-shot sets from Debian's SoundFont packages (issue 26: small folders, more percussion),
each a folder of class folders of WAV files, built once (run again: nothing to do) outside the repo:

    python bench/sf2_data.py kits          # ~/.cache/audioclust-data/kits: acoustic drum-kit strokes
    python bench/sf2_data.py instruments   # ~/.cache/audioclust-data/instruments: orchestral/acoustic instrument notes
    python bench/sf2_data.py percussion    # ~/.cache/audioclust-data/percussion: the General MIDI drum kits' sounds

- kits: avldrums.lv2-soundfont (Black Pearl and Red Zeppelin kits, every stroke at 5 velocities; samples
  CC BY-SA 3.0, Robin Gareus): 9 classes from the instrument in each sample's name, fixed before anything was
  scored: kick, snare, stick (side stick), clap, tom, hihat, cymbal (crash, ride, splash, china), shaker_tamb
  (tambourine, maraca), cowbell.
- instruments: fluid-soundfont-gm (FluidR3 GM, Frank Wen, MIT): the recorded notes of the General MIDI melodic
  presets of the 10 acoustic families, the family (program // 8) the class: piano, chromatic_perc, organ, guitar,
  bass, strings, ensemble, brass, reed, pipe; mono or left-channel samples of at least 0.25 s used by presets of one
  family only; at most 40 a class, evenly spread over the sorted names (the synth families are single-cycle loops,
  not recordings: left out).
- percussion: the same SoundFont's General MIDI percussion kits (bank 128: Standard, Room, Power, Electronic, TR-808,
  Jazz, Brush, Orchestra), each distinct mono or left-channel sample once: 9 classes from the sample's name, fixed
  before anything was scored: kick, snare, tom, hihat, cymbal, hand_drum (conga, bongo, tumba, timbale),
  metal (cowbell, agogo, triangle, bell tree), shaker (cabasa, maracas, shaker, tambourine, sleigh bells), wood
  (clave, woodblock, castanet, sticks, rim tap); names that fit none or are unclear (whistle, guiro, cuica, taiko,
  timpani, claps, brush swirl, scratches, "RmPwr", "Piccolo", "High Q", clicks, applause) are left out.

The package is fetched with apt-get download and unpacked in a temp folder; each sample's 16-bit PCM is read from the
SoundFont's sample chunk (a stdlib parser below) and written at its own rate. The package's copyright file is copied
next to the audio as COPYRIGHT: keep it with anything derived, never commit the audio.
"""
from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

from common import apt_download

SETS = {   # set -> (Debian package, its SoundFonts, its copyright file)
    "kits": ("avldrums.lv2-soundfont", ("Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2"), "avldrums.lv2-soundfont"),
    "instruments": ("fluid-soundfont-gm", ("FluidR3_GM.sf2",), "fluid-soundfont-gm"),
    "percussion": ("fluid-soundfont-gm", ("FluidR3_GM.sf2",), "fluid-soundfont-gm"),
}
KIT_CLASSES = (   # (class, pattern on the sample name), first match wins
    ("kick", r"kick"), ("stick", r"side ?stick"), ("snare", r"snare"), ("clap", r"clap"), ("tom", r"tom"),
    ("hihat", r"hat"), ("cymbal", r"crash|ride|spla|china|paiste"), ("shaker_tamb", r"tambourine|maraca"),
    ("cowbell", r"cowbell"))
GM_PERCUSSION = (   # (class, pattern on the sample name), first match wins; no match: left out
    ("cymbal", r"bellride|crash|crsh|ride|splash|china"), ("kick", r"kick|bass drum"),
    ("snare", r"snr|snare"), ("tom", r"tom|studio"), ("hihat", r"hat"),
    ("hand_drum", r"conga|bongo|tumba|timbale|closed slap"), ("metal", r"cow ?bell|agogo|triangle|bell tree"),
    ("shaker", r"cabasa|maracas|shaker|tambourine|sleigh"), ("wood", r"clave|woodblock|castanet|sticks|rim tap"))
FAMILIES = ("piano", "chromatic_perc", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed", "pipe")
PER_CLASS, MIN_SECONDS = 40, 0.25


def soundfont(path: Path):
    """(presets [(name, bank, program, [sample index, ...])], samples [(name, start, end, rate, type)], pcm)."""
    b = path.read_bytes()
    if b[:4] != b"RIFF" or b[8:12] != b"sfbk":
        raise SystemExit(f"{path}: not a SoundFont 2 file")

    def chunks(off, end):
        while off + 8 <= end:
            cid, size = b[off:off + 4].decode("latin1"), struct.unpack("<I", b[off + 4:off + 8])[0]
            yield cid, off + 8, size
            off += 8 + size + (size & 1)

    parts = {sid: (so, ss) for cid, off, size in chunks(12, len(b)) if cid == "LIST" for sid, so, ss in chunks(off + 4, off + size)}

    def records(name, fmt):
        so, ss = parts[name]
        n = struct.calcsize(fmt)
        return [struct.unpack(fmt, b[so + i * n: so + (i + 1) * n]) for i in range(ss // n)]

    def name(raw):
        return raw.split(b"\0")[0].decode("latin1").strip()

    def zones(bags, gens, first, last):   # each zone's generators {operator: amount}
        return [{gens[k][0]: gens[k][1] for k in range(bags[z][0], bags[z + 1][0])} for z in range(first, last)]

    phdr, pbag, pgen = records("phdr", "<20sHHHIII"), records("pbag", "<HH"), records("pgen", "<HH")
    inst, ibag, igen = records("inst", "<20sH"), records("ibag", "<HH"), records("igen", "<HH")
    shdr = records("shdr", "<20sIIIIIBbHH")
    presets = []
    for i in range(len(phdr) - 1):
        used = []
        for g in zones(pbag, pgen, phdr[i][3], phdr[i + 1][3]):
            if 41 in g:   # instrument
                j = g[41]
                used += [z[53] for z in zones(ibag, igen, inst[j][1], inst[j + 1][1]) if 53 in z]   # sampleID
        presets.append((name(phdr[i][0]), phdr[i][2], phdr[i][1], used))
    samples = [(name(s[0]), s[1], s[2], s[5], s[9]) for s in shdr[:-1]]
    so, ss = parts["smpl"]
    return presets, samples, memoryview(b)[so:so + ss].cast("h")


def write_wav(path: Path, pcm, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def kits(fonts: list[Path], out: Path) -> None:
    for font in fonts:
        kit = font.stem.split("_4_")[0]
        _, samples, pcm = soundfont(font)
        for sname, start, end, rate, _ in samples:
            cls = next((c for c, pat in KIT_CLASSES if re.search(pat, sname, re.I)), None)
            if cls is not None:
                (out / cls).mkdir(exist_ok=True)
                write_wav(out / cls / f"{kit}__{re.sub(r'[^A-Za-z0-9_-]', '_', sname)}.wav", pcm[start:end], rate)


def instruments(fonts: list[Path], out: Path) -> None:
    presets, samples, pcm = soundfont(fonts[0])
    family: dict[int, set[int]] = {}
    for _, bank, program, used in presets:
        if bank == 0 and program // 8 < len(FAMILIES):
            for s in used:
                family.setdefault(s, set()).add(program // 8)
    for program, fam in enumerate(FAMILIES):
        picked = sorted((samples[s][0], s) for s, f in family.items() if f == {program}
                        and samples[s][4] in (1, 4) and (samples[s][2] - samples[s][1]) / samples[s][3] >= MIN_SECONDS)
        if len(picked) > PER_CLASS:   # evenly spread over the sorted names
            picked = [picked[round(i * (len(picked) - 1) / (PER_CLASS - 1))] for i in range(PER_CLASS)]
        if picked:
            (out / fam).mkdir(exist_ok=True)
        for sname, s in picked:
            _, start, end, rate, _ = samples[s]
            write_wav(out / fam / f"{re.sub(r'[^A-Za-z0-9_-]', '_', sname)}_{s}.wav", pcm[start:end], rate)


def percussion(fonts: list[Path], out: Path) -> None:
    presets, samples, pcm = soundfont(fonts[0])
    used = sorted({s for _, bank, _, ids in presets if bank == 128 for s in ids})
    for s in used:
        sname, start, end, rate, kind = samples[s]
        cls = next((c for c, pat in GM_PERCUSSION if re.search(pat, sname, re.I)), None)
        if cls is not None and kind in (1, 4):   # mono, or a stereo pair's left channel
            (out / cls).mkdir(exist_ok=True)
            write_wav(out / cls / f"{re.sub(r'[^A-Za-z0-9_-]', '_', sname)}_{s}.wav", pcm[start:end], rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set", choices=list(SETS))
    ap.add_argument("out", nargs="?", default=None, help="default: ~/.cache/audioclust-data/<set>")
    args = ap.parse_args()
    out = Path(args.out or Path.home() / ".cache" / "audioclust-data" / args.set)
    package, fonts, doc = SETS[args.set]
    if (out / ".complete").is_file():
        print(out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        deb = apt_download(package, tmp)
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{tmp}/x"], check=True)
        part = out.with_name(out.name + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        {"kits": kits, "instruments": instruments, "percussion": percussion}[args.set]([Path(tmp) / "x/usr/share/sounds/sf2" / f for f in fonts], part)
        shutil.copy(Path(tmp) / "x/usr/share/doc" / doc / "copyright", part / "COPYRIGHT")
        (part / ".complete").write_text(f"{deb.name}\n")
        shutil.rmtree(out, ignore_errors=True)
        part.rename(out)
    counts = {d.name: len(list(d.glob("*.wav"))) for d in sorted(out.iterdir()) if d.is_dir()}
    print(f"{out}: {sum(counts.values())} clips, {len(counts)} classes: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
          file=sys.stderr)
    print(out)


if __name__ == "__main__":
    main()
