"""bench/wesnoth_data.py's classes from the game's sound names: one per class, the variants' digits aside, and what is
left out (a missed attack's whoosh but not a magic missile, the undead, names that fit no class, other files)."""
from __future__ import annotations

import sys

import pytest
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import wesnoth_data as bench  # noqa: E402


@pytest.mark.parametrize("path, expected", [
    ("human-female-die-2.ogg", "voice"), ("dwarf-laugh.wav", "voice"), ("ugg.wav", "voice"), ("wail-long.wav", "voice"),
    ("wolf-growl-3.ogg", "beast"), ("gryphon-shriek-1.ogg", "beast"), ("hiss-big.wav", "beast"), ("horse-elf-canter.wav", "beast"),
    ("magic-missile-2.ogg", "magic"), ("magicmissile.wav", "magic"), ("lightning.ogg", "magic"), ("mud-glob.ogg", "magic"),
    ("crossbow-fire.ogg", "ranged"), ("throw-4.wav", "ranged"), ("gunshot.wav", "ranged"),
    ("sword-1.ogg", "melee"), ("bite-small.ogg", "melee"), ("dagger-swish.wav", "melee"),
    ("horn-signals/horn-7.ogg", "horn"), ("ambient/campfire.ogg", "ambience"),
    ("bow-miss.ogg", None), ("magic-holy-miss-3.ogg", None), ("miss-2.ogg", None), ("magic-missile-1-miss.ogg", None),
    ("skeleton-hit-1.ogg", None), ("zombie-attack.wav", None), ("explosion.ogg", None), ("sword-1.txt", None),
])
def test_each_sound_gets_its_class_or_is_left_out(path, expected):
    assert bench.class_of(path) == expected
