"""A second labelled set of game sound effects (issue 26, goal 3: more environmental sound from registry packages),
built once outside the repo (run again: nothing to do):

    python bench/wesnoth_data.py            # ~/.cache/audioclust-data/wesnoth

Debian's wesnoth-1.16-data (bookworm, 146 MB download) ships The Battle for Wesnoth's recorded sound effects
(data/core/sounds; GPL-2+, the package's copyright file is copied next to them as COPYRIGHT: keep it with anything
derived, never commit the audio). Seven classes of the kind a sound-effects library sorts by, from each file's
folder and name (the rule below, fixed before anything was scored): voice (the cries of people and humanoid
creatures when hit, dying or laughing), beast (animals and monsters: growls, shrieks, hisses, hooves, wings),
magic (spells, fire, lightning, water, poison), ranged (bows, crossbows, slings, darts, thrown weapons, guns),
melee (blades, clubs, maces, fists, claws, bites), horn (horn signals), ambience (birds, campfire, night, ship,
war drums). A missed attack's whoosh (names ending in "miss", and miss-1 ...), the undead (skeletons, zombies, ghouls: bones or voices)
and the names that fit none (explosion, gold, fanfare, cave-in, ...) are left out.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from common import deb_set, first_class, say_set

PACKAGE = "wesnoth-1.16-data"
SOUNDS = "./usr/share/games/wesnoth/1.16/data/core/sounds"
COPYRIGHT = "./usr/share/doc/wesnoth-1.16-data/copyright"
OUT = Path.home() / ".cache" / "audioclust-data" / "wesnoth"
PEOPLE = "human|human-female|human-old|dwarf|elf|orc|orc-small|goblin|ogre|troll|lich|mermaid|mermen|naga|yeti|wose"
CLASSES = {   # class -> pattern on the path under data/core/sounds, digits and extension aside
    "voice": rf"^(({PEOPLE})-(die|hit|laugh)|groan|ugg|wail.*)$",
    "beast": r"^((drake|gryphon|wolf|bat|tusker|horse|horse-elf|hiss|hiss-big)-(die|hit|growl|shriek|flapping|canter)|hiss|hiss-big)$",
    "magic": r"^(magic.*|lightning|fire|flame-big|melee-fire|heal|entangle|petrified|poison|slowed|water-blast|ink|mud-.*)$",
    "ranged": r"^(bow.*|crossbow.*|sling.*|dart|throwing-knife|throw|thunderstick|gunshot)$",
    "melee": r"^(sword|axe|club|mace|flail|hatchet|dagger-swish|knife|staff|fist|claws|bite.*|pincers|tail|torch|dragonstick|spear)$",
    "horn": r"^horn-signals/horn$",
    "ambience": r"^ambient/.*$",
}
AUDIO = (".ogg", ".wav")


def class_of(path: str) -> str | None:
    """The class of a file by its path under data/core/sounds (None: left out)."""
    p = Path(path)
    name = re.sub(r"-\d+$", "", str(p.with_suffix("")))
    if p.suffix.lower() not in AUDIO or re.search(r"(^|/|-)miss$", name):   # a missed attack (not magic-missile)
        return None
    return first_class(name, CLASSES)


def build(out: Path) -> dict[str, int]:
    def entries(tmp: Path):
        root = tmp / SOUNDS
        return ((str(f.relative_to(root)), f.read_bytes) for f in sorted(root.rglob("*")) if f.is_file())

    return deb_set(PACKAGE, out, [f"{SOUNDS}/*"], COPYRIGHT, entries, class_of)


def main() -> None:
    say_set(OUT, build(OUT))


if __name__ == "__main__":
    sys.exit(main())
