"""What a train run (run_config.yaml) and a fit (encoder.json) record is read back only when this version wrote it
(their `schema`): an older or newer one stops with one line naming the command that writes it again."""
import json

import pytest
import yaml
from omegaconf import OmegaConf

from audioclust.errors import ConfigError
from audioclust.tasks.builders import FIT_SCHEMA, load_run
from audioclust.tasks.cluster import _load_clusters

ENCODER = {"name": "speaker", "licence": "x", "embedding_dim": 256}


def _fit(folder, **info):
    folder.mkdir()
    for name in ("centroids.npy", "preprocess.npz"):
        (folder / name).write_bytes(b"")   # never read: the schema is checked first
    windowing = {"clip_seconds": 1.0, "hop_seconds": 1.0, "pool_windows_up_to": 30.0, "pool_weights": "power", "segment": None}
    (folder / "encoder.json").write_text(json.dumps({**ENCODER, "windowing": windowing, **info}))
    return OmegaConf.create({"clusters_dir": str(folder), "run_dir": None, "kmeans": {"gpu": False}})


@pytest.mark.parametrize("schema,by", [(None, "an older"), (1, "an older"), (FIT_SCHEMA + 1, "a newer")])
def test_a_fit_of_another_version_is_not_read(tmp_path, schema, by):
    cfg = _fit(tmp_path / "fit", **({} if schema is None else {"schema": schema}))
    with pytest.raises(ConfigError) as err:
        _load_clusters(cfg, ENCODER)
    assert str(err.value) == (f"{tmp_path / 'fit' / 'encoder.json'} was written by {by} audioclust: fit it again with "
                              "this version (audioclust-cluster encoder=speaker data.root=<the fitted folder> mode=fit)")


def test_a_fit_of_this_version_is_read_past_the_check(tmp_path):
    cfg = _fit(tmp_path / "fit", schema=FIT_SCHEMA)
    with pytest.raises(Exception) as err:   # the empty preprocess.npz: the schema check let it through
        _load_clusters(cfg, ENCODER)
    assert "written by" not in str(err.value)


def test_a_run_of_another_version_is_not_read(tmp_path):
    (tmp_path / "run_config.yaml").write_text(yaml.safe_dump({"model": {"_target_": "x"}}))
    with pytest.raises(ConfigError) as err:
        load_run(tmp_path)
    assert str(err.value) == (f"{tmp_path / 'run_config.yaml'} was written by an older audioclust: fit it again with "
                              f"this version (audioclust-train with the overrides in {tmp_path / '.hydra' / 'overrides.yaml'})")
