"""A labelled set of everyday and natural sounds from a registry package (issue 26, goal 3: more environmental sound),
built once outside the repo (run again: nothing to do):

    python bench/zeroad_data.py            # ~/.cache/audioclust-data/zeroad

Debian's 0ad-data (1.4 GB download, 3.3 GB unpacked while building; the set itself is about 40 MB) ships 0 A.D.'s
recorded sounds (mods/public/public.zip, audio/; CC BY-SA 3.0, the package's copyright file is copied next to them
as COPYRIGHT: keep it with anything derived, never commit the audio). Nine classes of the kind an environmental-sound
set sorts by, from each file's folder and name (the rule below, fixed before anything was scored): animal (cattle,
horses, elephants, pigs, sheep, goats, a lion, a peacock: calls and deaths), cry (people crying out as they die),
footsteps (on grass, gravel, rock, sand, snow, wood), chopping (axes on trees), mining (picks on stone and metal),
construction (sawing and hammering), ambience (rain, thunder, wind, rivers, waves, a day's birds and insects), fire
(flames) and impact (arrows, sling stones, blades striking dirt, wood, stone, metal, shields, flesh). Music, speech,
the interface's sounds, weapons swung, gathering and farming, buildings, ships and siege engines are left out.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from common import deb_set, first_class, say_set

PACKAGE = "0ad-data"
ARCHIVE = "./usr/share/games/0ad/mods/public/public.zip"
COPYRIGHT = "./usr/share/doc/0ad-data/copyright"
OUT = Path.home() / ".cache" / "audioclust-data" / "zeroad"
CLASSES = {   # class -> pattern on the path under audio/
    "animal": r"^actor/fauna/(animal|death)/",
    "cry": r"^actor/human/death/",
    "footsteps": r"^actor/singlesteps/",
    "chopping": r"^resource/lumbering/",
    "mining": r"^resource/mining/",
    "construction": r"^resource/construction/",
    "ambience": r"^ambient/(weather|water|dayscape)/",
    "fire": r"^attack/fire/",
    "impact": r"^attack/impact/",
}


def class_of(path: str) -> str | None:
    """The class of a file by its path under audio/ (None: left out)."""
    if not path.lower().endswith(".ogg"):
        return None
    return first_class(path, CLASSES)


def build(out: Path) -> dict[str, int]:
    def entries(tmp: Path):
        with zipfile.ZipFile(tmp / ARCHIVE) as z:
            for entry in sorted(z.namelist()):
                if entry.startswith("audio/"):
                    yield entry.removeprefix("audio/"), lambda entry=entry: z.read(entry)

    return deb_set(PACKAGE, out, [ARCHIVE], COPYRIGHT, entries, class_of)


def main() -> None:
    say_set(OUT, build(OUT))


if __name__ == "__main__":
    sys.exit(main())
