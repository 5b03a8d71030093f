"""bench/megaglest_data.py's classes from each sound's unit (its folder, or the name's prefix in commondata) and verb:
one per class, and what is left out (monsters, machines, a unit's footsteps or being hit, the menu, music)."""
from __future__ import annotations

import sys

import pytest
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import megaglest_data as bench  # noqa: E402

U = "techs/megapack/factions"
C = "techs/megapack/commondata/sounds"


@pytest.mark.parametrize("path, expected", [
    (f"{U}/norsemen/units/swordman/sounds/swordman_select3.wav", "voice"), (f"{C}/technician_ack12.wav", "voice"),
    (f"{U}/indian/units/fire_archer/sounds/archer_select2.wav", "voice"),   # a unit speaking with another's name
    (f"{U}/persian/units/fakir/sounds/stickfighter_ack_4.wav", "voice"), (f"{C}/horseman_die2.wav", "death"),
    (f"{U}/norsemen/units/spearman/sounds/swordman_attack7.wav", "melee"), (f"{C}/guard_attack11.wav", "melee"),
    (f"{U}/indian/units/archer/sounds/archer_attack1.wav", "ranged"), (f"{C}/axe_thrower_attack3.wav", "ranged"),
    (f"{U}/magic/units/initiate/sounds/initiate_attack4.wav", "spell"), (f"{C}/worker_harvest_wood2.wav", "work"),
    (f"{C}/anvil3.wav", "work"), (f"{C}/technician_build1.wav", "work"),
    (f"{U}/egypt/units/chicken/sounds/chicken_select2.wav", "animal"), (f"{C}/pig_die.wav", "animal"),
    ("tilesets/birch_forest/sounds/wolf.wav", "animal"), ("tilesets/autumn/sounds/rain.ogg", "ambience"),
    ("tilesets/birch_forest/sounds/night.ogg", "ambience"), ("data/core/water_sounds/water3.wav", "ambience"),
    (f"{U}/magic/units/daemon/sounds/daemon_attack2.wav", None), (f"{C}/golem_select4.wav", None),
    (f"{U}/tech/units/battle_machine/sounds/machine_walk1.wav", None), (f"{C}/archmage_hit2.wav", None),
    (f"{C}/horseman_walk1.wav", None), (f"{C}/arrow_hit3.wav", None), (f"{C}/tech_building_fall2.wav", None),
    ("data/core/menu/sound/click_a.wav", None), (f"{U}/indian/music/asak-jadeflange.ogg", None),
    (f"{U}/norsemen/units/swordman/sounds/swordman_select3.txt", None),
])
def test_each_sound_gets_its_class_or_is_left_out(path, expected):
    assert bench.class_of(path) == expected
