"""bench/sf2_data.py's own logic on a SoundFont written here: its parser (presets -> instruments -> samples, PCM),
the kits' classes from sample names, the instrument families from presets (a sample shared by two families, a
right channel and a too-short sample left out, at most PER_CLASS a class)."""
from __future__ import annotations

import struct
import sys
import wave

import numpy as np
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import sf2_data as bench  # noqa: E402

RATE = 8000


def chunk(cid: bytes, data: bytes) -> bytes:
    return cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)


def write_sf2(path, presets, samples) -> None:
    """presets: [(name, bank, program, [sample index, ...])], one instrument per preset holding those samples;
    samples: [(name, pcm int16 array, type)] (type 1 mono, 2 right, 4 left)."""
    pcm, shdr = b"", b""
    for name, x, kind in samples:
        start = len(pcm) // 2
        pcm += x.astype("<i2").tobytes() + b"\0" * 92   # 46 zero samples after each, as the format asks
        shdr += struct.pack("<20sIIIIIBbHH", name.encode(), start, start + len(x), start, start, RATE, 60, 0, 0, kind)
    shdr += struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    phdr, pbag, pgen, inst, ibag, igen = b"", b"", b"", b"", b"", b""
    n_pbag = n_pgen = n_ibag = n_igen = 0
    for i, (name, bank, program, used) in enumerate(presets):
        phdr += struct.pack("<20sHHHIII", name.encode(), program, bank, n_pbag, 0, 0, 0)
        pbag += struct.pack("<HH", n_pgen, 0)
        pgen += struct.pack("<HH", 41, i)   # instrument i
        n_pbag, n_pgen = n_pbag + 1, n_pgen + 1
        inst += struct.pack("<20sH", f"inst{i}".encode(), n_ibag)
        for s in used:
            ibag += struct.pack("<HH", n_igen, 0)
            igen += struct.pack("<HH", 53, s)   # sampleID
            n_ibag, n_igen = n_ibag + 1, n_igen + 1
    phdr += struct.pack("<20sHHHIII", b"EOP", 0, 0, n_pbag, 0, 0, 0)
    pbag += struct.pack("<HH", n_pgen, 0)
    inst += struct.pack("<20sH", b"EOI", n_ibag)
    ibag += struct.pack("<HH", n_igen, 0)
    pdta = b"pdta" + b"".join(chunk(c, d) for c, d in ((b"phdr", phdr), (b"pbag", pbag), (b"pmod", b""), (b"pgen", pgen),
                                                       (b"inst", inst), (b"ibag", ibag), (b"imod", b""), (b"igen", igen),
                                                       (b"shdr", shdr)))
    body = b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1))) + chunk(b"LIST", b"sdta" + chunk(b"smpl", pcm)) \
        + chunk(b"LIST", pdta)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def tone(seconds: float, f: float = 440.0) -> np.ndarray:
    return (8000 * np.sin(2 * np.pi * f * np.arange(int(RATE * seconds)) / RATE)).astype(np.int16)


def read_wav(path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), "<i2")


def test_the_parser_reads_presets_instruments_and_samples(tmp_path):
    samples = [("36-Kick-1", tone(0.5, 60), 1), ("Violin A4(L)", tone(1.0), 4), ("Violin A4(R)", tone(1.0), 2)]
    write_sf2(tmp_path / "a.sf2", [("Kit", 128, 0, [0]), ("Violin", 0, 40, [1, 2])], samples)
    presets, got, pcm = bench.soundfont(tmp_path / "a.sf2")
    assert presets == [("Kit", 128, 0, [0]), ("Violin", 0, 40, [1, 2])]
    assert [(s[0], s[3], s[4]) for s in got] == [("36-Kick-1", RATE, 1), ("Violin A4(L)", RATE, 4), ("Violin A4(R)", RATE, 2)]
    name, start, end, _, _ = got[1]
    np.testing.assert_array_equal(np.asarray(pcm[start:end]), samples[1][1])


def test_kits_are_classed_by_the_instrument_in_each_sample_name(tmp_path):
    names = ["36-Pearl22Kick-1", "37-SideStick-2", "38-PearlSnare-1", "42-SabianRockHatClos", "49-SabianAA16Crash-1",
             "45-Pearl12Tom-3", "54-Tambourine-1", "56-Cowbell-1", "39-HandClap-1", "99-Gong-1"]
    write_sf2(tmp_path / "Black_Pearl_4_LV2.sf2", [("Kit", 0, 0, list(range(len(names))))], [(n, tone(0.3), 1) for n in names])
    (tmp_path / "out").mkdir()
    bench.kits([tmp_path / "Black_Pearl_4_LV2.sf2"], tmp_path / "out")
    got = {p.parent.name: p.name for p in (tmp_path / "out").glob("*/*.wav")}
    assert got == {"kick": "Black_Pearl__36-Pearl22Kick-1.wav", "stick": "Black_Pearl__37-SideStick-2.wav",
                   "snare": "Black_Pearl__38-PearlSnare-1.wav", "hihat": "Black_Pearl__42-SabianRockHatClos.wav",
                   "cymbal": "Black_Pearl__49-SabianAA16Crash-1.wav", "tom": "Black_Pearl__45-Pearl12Tom-3.wav",
                   "shaker_tamb": "Black_Pearl__54-Tambourine-1.wav", "cowbell": "Black_Pearl__56-Cowbell-1.wav",
                   "clap": "Black_Pearl__39-HandClap-1.wav"}   # the gong matches no class: left out
    assert len(read_wav(tmp_path / "out" / "kick" / got["kick"])) == int(0.3 * RATE)


def test_instruments_by_family_one_family_a_sample_at_most_per_class(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "PER_CLASS", 3)
    samples = [(f"Piano {i}", tone(0.5, 200 + 10 * i), 1) for i in range(5)]            # 0-4: piano (program 0)
    samples += [("Shared", tone(0.5), 1), ("Short", tone(0.1), 1), ("Cello(R)", tone(0.5), 2), ("Cello(L)", tone(0.5), 4),
                ("Synth", tone(0.5), 1)]                                               # 5-9
    presets = [("Piano", 0, 0, [0, 1, 2, 3, 4, 5]), ("Cello", 0, 42, [5, 6, 7, 8]), ("Lead", 0, 80, [9]), ("Drums", 128, 0, [0])]
    write_sf2(tmp_path / "FluidR3_GM.sf2", presets, samples)
    (tmp_path / "out").mkdir()
    bench.instruments([tmp_path / "FluidR3_GM.sf2"], tmp_path / "out")
    got = {d.name: sorted(p.name for p in d.glob("*.wav")) for d in (tmp_path / "out").iterdir()}
    # the piano's five spread to 3 (first, middle, last); the shared sample, the short one, the right channel and the
    # synth family (program 80: not one of the ten acoustic families) are left out
    assert got == {"piano": ["Piano_0_0.wav", "Piano_2_2.wav", "Piano_4_4.wav"], "strings": ["Cello_L__8.wav"]}


def test_gm_percussion_is_classed_by_sample_name_from_the_drum_kits_only(tmp_path):
    """bank 128 presets only; a stereo pair's left channel once (the right left out); unclear names left out; a sample
    used by two kits written once."""
    names = [("Std Kick 1(L)", 4), ("Std Kick 1(R)", 2), ("Crsh 1(L)", 4), ("BellRide(L)", 4), ("High Conga(L)", 4),
             ("Cabasa(L)", 4), ("Triangle", 1), ("Clave(L)", 4), ("Tom Hi(L)", 4), ("Hi Studio(L)", 4),
             ("Snr 1-1(L)", 4), ("Hi-Hat Closed(L)", 4), ("Long Whistle", 1), ("RmPwr 1-1(L)", 4), ("Violin A4(L)", 4)]
    kit = list(range(14))
    write_sf2(tmp_path / "FluidR3_GM.sf2", [("Standard", 128, 0, kit), ("Room", 128, 8, kit[:3]), ("Violin", 0, 40, [14])],
              [(n, tone(0.3), kind) for n, kind in names])
    (tmp_path / "out").mkdir()
    bench.percussion([tmp_path / "FluidR3_GM.sf2"], tmp_path / "out")
    got = {p.parent.name + "/" + p.name.rsplit("_", 1)[0] for p in (tmp_path / "out").rglob("*.wav")}
    assert got == {"kick/Std_Kick_1_L_", "cymbal/Crsh_1_L_", "cymbal/BellRide_L_", "hand_drum/High_Conga_L_",
                   "shaker/Cabasa_L_", "metal/Triangle", "wood/Clave_L_", "tom/Tom_Hi_L_", "tom/Hi_Studio_L_",
                   "snare/Snr_1-1_L_", "hihat/Hi-Hat_Closed_L_"}
    assert len(list((tmp_path / "out").rglob("*.wav"))) == len(got)
