"""bench/zeroad_data.py's classes from the sounds' folders under audio/: one per class, and what is left out (speech,
music, the interface, weapons swung, gathering, other files)."""
from __future__ import annotations

import sys

import pytest
from common_utils import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import zeroad_data as bench  # noqa: E402


@pytest.mark.parametrize("path, expected", [
    ("actor/fauna/animal/cattle_order_2.ogg", "animal"), ("actor/fauna/death/goat_3.ogg", "animal"),
    ("actor/human/death/male_death_12.ogg", "cry"), ("actor/singlesteps/fs_gravel_4.ogg", "footsteps"),
    ("resource/lumbering/lumber_tree_7.ogg", "chopping"), ("resource/mining/mine_stone_3.ogg", "mining"),
    ("resource/construction/con_saw_2.ogg", "construction"), ("ambient/water/river_fast.ogg", "ambience"),
    ("ambient/dayscape/day_tropical_2.ogg", "ambience"), ("attack/fire/sp_4.ogg", "fire"),
    ("attack/impact/arrow_metal_3.ogg", "impact"),
    ("actor/fauna/movement/herd.ogg", None), ("ambient/building/smithy.ogg", None), ("voice/greek/civ/attack.ogg", None),
    ("music/peace/Tale_of_Warriors.ogg", None), ("attack/weapon/sword_attack_2.ogg", None),
    ("resource/gathering/gather_meat_2.ogg", None), ("interface/alarm/alarm_attack.ogg", None),
    ("actor/singlesteps/fs_sand.txt", None),
])
def test_each_sound_gets_its_class_or_is_left_out(path, expected):
    assert bench.class_of(path) == expected
