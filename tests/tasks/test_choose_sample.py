"""encoder=auto judges each candidate on the rows the run will fit on: a file up to pool_windows_up_to is one row
(all its windows embedded and pooled), a longer recording one row per window (or one row when the run fits on one
row per file), and the sample is drawn over rows."""
from types import SimpleNamespace

import numpy as np
import soundfile as sf
from common_utils import ROOT, tone
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from audioclust.tasks import choose

SR = 16000


def test_auto_samples_pooled_files_and_windows_of_long_recordings(tmp_path, monkeypatch):
    root = tmp_path / "clips"
    root.mkdir()
    for i in range(6):   # 2.5 s each: 3 windows pooled into one row
        sf.write(root / f"clip{i}.wav", tone(300 + 100 * i, sr=SR, seconds=2.5), SR)
    sf.write(root / "long.wav", tone(200, sr=SR, seconds=40.0), SR)   # longer than 30 s: 40 rows of 1 s
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("cluster", ["encoder=auto", f"data.root={root}", f"paths.cache_dir={tmp_path}/cache"])
    seen = {}

    def fake_embed(model, dm, device, progress=False, store=None, out_dir=None):   # one embedding per window: (file id, offset)
        ids = np.asarray(dm.predict_ids)
        seen["index"], seen["ids"] = dm.index, ids
        x = np.stack([dm.index.file_ids[ids], dm.index.offsets[ids]], 1).astype(np.float32)
        return {"embedding": x, "sample_id": ids, "ok": np.ones(len(ids), bool), "power": np.ones(len(ids), np.float32)}

    monkeypatch.setattr(choose, "embed", fake_embed)
    monkeypatch.setattr(choose, "build_store", lambda *args: None)   # no store: the fake embeds every window asked
    model = SimpleNamespace(sr=SR)
    node = SimpleNamespace(name="fake")
    def rows(long):
        return False

    x = choose._sample_embeddings(cfg, node, model, 100, 0, rows, tmp_path)   # every row: 6 pooled files + 40 windows
    idx = seen["index"]
    long_id = idx.files.index(str(root / "long.wav"))
    assert len(x) == 6 + 40 and len(seen["ids"]) == len(idx) == 6 * 3 + 40
    pooled = x[x[:, 0] != long_id]
    np.testing.assert_allclose(pooled[:, 1], [2.5 / 3] * 6, rtol=1e-6)   # mean of offsets 0, 1, 1.5 (the tail window)
    x = choose._sample_embeddings(cfg, node, model, 20, 1, rows, tmp_path)   # 20 of the 46 rows, each pooled file whole
    ids = seen["ids"]
    fids = idx.file_ids[ids]
    assert len(x) == 20 and set(fids.tolist()) - {long_id}   # some short files were drawn
    for f in set(fids.tolist()) - {long_id}:
        assert (fids == f).sum() == 3   # a sampled short file brings all its windows
    assert len(x) == len(set(fids.tolist()) - {long_id}) + int((fids == long_id).sum())
    # the run fits on one row per file (Clusterer.fits_files): so is each candidate judged, the recording one row
    x = choose._sample_embeddings(cfg, node, model, 100, 0, lambda long: int(long.sum()) == 1, tmp_path)
    assert len(x) == 7 and len(seen["ids"]) == 6 * 3 + 40
    np.testing.assert_allclose(x[x[:, 0] == long_id, 1], [19.5], rtol=1e-6)   # mean of offsets 0..39
