"""curation.json is read strictly: a bad or stale file is one ConfigError naming it, and changes nothing."""
import json

import pytest

from audioclust.curate.schema import SCHEMA, VERSION, load
from audioclust.errors import ConfigError


def _write(tmp_path, **doc):
    base = {"schema": SCHEMA, "version": VERSION, "fit": {"id": "abc", "clips": 10}, "operations": []}
    (tmp_path / "c.json").write_text(json.dumps({**base, **doc}))
    return tmp_path / "c.json"


def test_a_good_file_loads_in_order_with_names_trimmed(tmp_path):
    ops = [{"op": "rename", "cluster": 1, "name": " owl "}, {"op": "noise", "clips": [3, 4]}]
    got = load(_write(tmp_path, operations=ops), "abc", 10)
    assert got.operations[0]["name"] == "owl" and got.operations[1]["clips"] == [3, 4] and got.fit == "abc"


@pytest.mark.parametrize("doc, message", [
    ({"schema": "other"}, "is not a curation.json"),
    ({"version": 2}, "curation schema version 2; this audioclust reads version 1"),
    ({"fit": {"id": "zzz"}}, "was made on fit zzz, not on this fit \\(abc\\)"),
    ({"operations": [{"op": "noise", "clips": [10]}]}, "operation 0 \\(noise\\): clip 10 is not in this fit \\(10 clips\\): the file is stale"),
    ({"operations": [{"op": "paint"}]}, "unknown operation 'paint'"),
    ({"operations": [{"op": "rename", "cluster": 1}]}, "missing name"),
    ({"operations": [{"op": "noise", "clips": [1], "cluster": 2}]}, "missing clips or cluster"),
    ({"operations": [{"op": "split", "cluster": 1, "n": 1}]}, "at least 2"),
    ({"operations": [{"op": "label", "clips": [1], "name": ""}]}, "non-empty string"),
])
def test_bad_or_stale_files_are_one_error(tmp_path, doc, message):
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, **doc), "abc", 10)


def test_not_json_and_missing(tmp_path):
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        load(tmp_path / "x.json", "abc", 1)
    with pytest.raises(ConfigError, match="no curation file"):
        load(tmp_path / "none.json", "abc", 1)


@pytest.mark.parametrize("doc, message", [
    ({"fit": "abc"}, "was made on fit None"),
    ({"fit": {"id": "abc", "clips": 11}}, "made on a fit of 11 clips, this one has 10"),
    ({"operations": [{"op": ["x"]}]}, "unknown operation \\['x'\\]"),
    ({"operations": [{"op": "rename", "cluster": None, "name": "a"}]}, "cluster numbers must be integers"),
    ({"operations": [{"op": "move", "clips": [1], "to": 1.7}]}, "cluster numbers must be integers"),
    ({"operations": [{"op": "merge", "clusters": 3}]}, "cluster numbers must be integers"),
    ({"operations": [{"op": "merge", "clusters": [1, 1]}]}, "listed twice"),
    ({"operations": [{"op": "rename", "cluster": 1, "name": "a\tb"}]}, "without tabs"),
])
def test_wrong_types_are_one_error_too(tmp_path, doc, message):
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, **doc), "abc", 10)
