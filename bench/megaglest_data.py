"""A labelled set of a third game's sounds (after 0 A.D.'s, bench/sfx_data.sh and bench/zeroad_data.py, and Wesnoth's),
natural sound among them (issue 26, goal 3: more environmental sound from registry packages), built once outside the
repo (run again: nothing to do):

    python bench/megaglest_data.py            # ~/.cache/audioclust-data/megaglest

Debian's megaglest-data (242 MB download) ships MegaGlest's recorded sounds (CC BY-SA 3.0 Unported, credits in the
package's copyright file, copied next to them as COPYRIGHT: keep it with anything derived, never commit the audio).
Eight classes of the kind a sound-effects library sorts by, from each file's folder and name (the rule below, fixed
before anything was scored): voice (people answering when chosen or ordered: "select", "ack"), death (people's cries
as they die), melee (swords, spears, axes, clubs, staffs striking), ranged (bows, fire arrows, thrown axes), spell (the
mages' attacks), work (building, mining, harvesting, an anvil), animal (chickens, sheep, pigs, cows, a bull, an
elephant, bees, wolves, a rooster, a hawk, an owl) and ambience (a tileset's day, night, rain and wind; water). A
unit is the folder its sounds are in (units/<unit>/sounds; in commondata/sounds, the name's prefix). Monsters and
spirits (daemon, golem, mummy, genie, ghost armour, dragons, behemoths), machines, towers and buildings, a unit's
footsteps or being hit, the menu's sounds, music and the links between the package's files are left out.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from common import deb_set, say_set

PACKAGE = "megaglest-data"
GAME = "./usr/share/games/megaglest"
COPYRIGHT = "./usr/share/doc/megaglest-data/copyright"
OUT = Path.home() / ".cache" / "audioclust-data" / "megaglest"
AUDIO = (".ogg", ".wav")
MELEE = ("axe_indian|horseman|spearman|spearman_berserk|stickfighter|battleaxe|battleaxe_berserk|cudgel_lady|valkyrie|"
         "swordman|swordman_berserk|gladiator|guard")
RANGED = "archer|fire_archer|axe_thrower"
MAGES = "shaman|archmage|battlemage|initiate|summoner|fakir|magician"
PEOPLE = f"{MELEE}|{RANGED}|{MAGES}|worker|technician|dragon_rider|flying_valkyrie|princess"
ANIMALS = "chicken|bull|sheep|elephant|ele|wild_sow|beehive|bee|pig|cow|mudchute_cow|wolf|rooster|hawk|owl"
VERB = r"(?:^|_)(ack|select|sel|die|attack|hit|walk|build|mine|harvest(?:_wood)?|work(?:_start|_end)?|prod)$"


def name_of(path: str) -> str:
    """A file's name without its extension, lower case, digits and underscores at the end aside (pig_die2 -> pig_die)."""
    return re.sub(r"[_\d]*$", "", Path(path).stem.lower())


def unit_and_verb(path: str) -> tuple[str, str]:
    """Whose sound and what it is: the unit from units/<unit>/sounds (else the name's prefix), the verb that ends the
    name ('' where none does)."""
    stem = name_of(path)
    verb = re.search(VERB, stem)
    folder = re.search(r"/units/([^/]+)/sounds/", path)
    unit = folder.group(1) if folder else re.match(rf"({PEOPLE}|{ANIMALS}|[a-z]+)", stem).group(1)
    return unit, verb.group(1) if verb else ""


def class_of(path: str) -> str | None:
    """The class of a file by its path under the game's folder (None: left out)."""
    if Path(path).suffix.lower() not in AUDIO:
        return None
    if re.match(r"^(tilesets/[^/]+/sounds|data/core/water_sounds)/", path):
        return "animal" if re.fullmatch(ANIMALS, name_of(path)) else "ambience"
    if not path.startswith("techs/"):
        return None
    unit, verb = unit_and_verb(path)
    if re.fullmatch(ANIMALS, unit):
        return "animal"
    if unit == "anvil":
        return "work"
    if not re.fullmatch(PEOPLE, unit):
        return None
    if verb in ("ack", "select", "sel"):
        return "voice"
    if verb == "die":
        return "death"
    if verb == "attack":
        for kind, units in (("melee", MELEE), ("ranged", RANGED), ("spell", MAGES)):
            if re.fullmatch(units, unit):
                return kind
        return None
    return "work" if re.fullmatch(r"build|mine|harvest.*|work.*|prod", verb) else None


def build(out: Path) -> dict[str, int]:
    def entries(tmp: Path):
        root = tmp / GAME
        return ((str(f.relative_to(root)), f.read_bytes) for f in sorted(root.rglob("*"))
                if f.is_file() and not f.is_symlink())   # a link repeats a file kept elsewhere

    return deb_set(PACKAGE, out, [f"{GAME}/*.ogg", f"{GAME}/*.wav"], COPYRIGHT, entries, class_of)


def main() -> None:
    say_set(OUT, build(OUT))


if __name__ == "__main__":
    sys.exit(main())
