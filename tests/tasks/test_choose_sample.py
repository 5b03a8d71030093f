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

    x = choose._sample_embeddings(cfg, node, model, 100, 0, rows, tmp_path).x   # every row: 6 pooled files + 40 windows
    idx = seen["index"]
    long_id = idx.files.index(str(root / "long.wav"))
    assert len(x) == 6 + 40 and len(seen["ids"]) == len(idx) == 6 * 3 + 40
    pooled = x[x[:, 0] != long_id]
    np.testing.assert_allclose(pooled[:, 1], [2.5 / 3] * 6, rtol=1e-6)   # mean of offsets 0, 1, 1.5 (the tail window)
    x = choose._sample_embeddings(cfg, node, model, 20, 1, rows, tmp_path).x   # 20 of the 46 rows, each pooled file whole
    ids = seen["ids"]
    fids = idx.file_ids[ids]
    assert len(x) == 20 and set(fids.tolist()) - {long_id}   # some short files were drawn
    for f in set(fids.tolist()) - {long_id}:
        assert (fids == f).sum() == 3   # a sampled short file brings all its windows
    assert len(x) == len(set(fids.tolist()) - {long_id}) + int((fids == long_id).sum())
    # the run fits on one row per file (Clusterer.fits_files): so is each candidate judged, the recording one row
    x = choose._sample_embeddings(cfg, node, model, 100, 0, lambda long: int(long.sum()) == 1, tmp_path).x
    assert len(x) == 7 and len(seen["ids"]) == 6 * 3 + 40
    np.testing.assert_allclose(x[x[:, 0] == long_id, 1], [19.5], rtol=1e-6)   # mean of offsets 0..39


def _auto_cfg(tmp_path, *overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("cluster", ["encoder=auto", "encoder.candidates=[speech,speaker]", f"data.root={tmp_path}",
                                   "kmeans.k=3", "encoder.pairs=2", *overrides])


def _fake_candidates(monkeypatch, stabilities):
    """Two candidates whose samples are 3 blobs (speech; one row it could not decode) and 3 other blobs (speaker);
    each scoring clusters one sample through the judging stage, then gets the next of `stabilities`."""
    from sklearn.datasets import make_blobs

    from audioclust.cluster.choose import Stability

    a = make_blobs(60, n_features=4, centers=3, random_state=0)[0].astype(np.float32)
    b = make_blobs(60, n_features=6, centers=3, random_state=1)[0].astype(np.float32)
    samples = {"speech": choose.Sample(np.delete(np.arange(60), 5), np.delete(a, 5, 0), 60),
               "speaker": choose.Sample(np.arange(60), b, 60)}
    seen, scores = [], iter(stabilities)

    def fake_stability(x, fit, pairs, seed):
        seen.append((x.shape, fit(x, seed)))
        return Stability(next(scores), [0.0] * pairs)

    monkeypatch.setattr(choose, "build_encoder", lambda node: SimpleNamespace(licence=f"{node.name} licence"))
    monkeypatch.setattr(choose, "_sample_embeddings", lambda cfg, node, *args: samples[node.name])
    monkeypatch.setattr(choose, "stability", fake_stability)
    return seen


def test_auto_judges_the_candidates_side_by_side_and_their_consensus(tmp_path, monkeypatch, capsys):
    """encoder.combinations (the default): with two candidates installed, all of them side by side (encoder=mix) and
    their consensus are judged too, on the rows both embedded; the consensus picked, the run goes on with
    encoder=mix of the candidates and cluster.method=consensus, and says how to name it later."""
    import json

    from audioclust.tasks.builders import build_clusterer

    seen = _fake_candidates(monkeypatch, [0.5, 0.6, 0.7, 0.9])
    cfg = _auto_cfg(tmp_path, "reduce.method=umap")
    chosen = choose.choose_encoder(cfg, 3, tmp_path)
    record = json.loads((tmp_path / "encoder_choice.json").read_text())
    assert set(record["scores"]) == {"speech", "speaker", "mix", "consensus"} and record["pick"] == "consensus"
    assert [s[0] for s in seen] == [(59, 4), (60, 6), (59, 10), (59, 10)]   # the combinations: the 59 rows both hold
    assert all(len(set(labels.tolist())) == 3 for _, labels in seen)   # each judged by a real clustering, k=3
    assert record["scores"]["consensus"]["members"] == ["speech", "speaker"]
    assert record["scores"]["consensus"]["licence"] == "speech: speech licence; speaker: speaker licence"
    assert "reduce.method=none" in record["criterion"]
    assert chosen.encoder.name == "mix" and list(chosen.encoder.members) == ["speech", "speaker"]
    assert chosen.cluster.method == "consensus" and chosen.reduce.method == "umap"   # the run keeps its own reduce
    assert build_clusterer(chosen).content.method.name == "consensus"
    assert cfg.cluster.method == "kmeans" and cfg.encoder.name == "auto"   # the caller's config is left as it was
    assert ("picked consensus (stability 0.900; speech 0.500, speaker 0.600, mix 0.700)" in capsys.readouterr().out
            .replace("\n", " "))


def test_auto_goes_on_with_a_single_pick_and_judges_combinations_only_where_the_run_can_cluster_them(tmp_path, monkeypatch):
    seen = _fake_candidates(monkeypatch, [0.9, 0.6, 0.7, 0.8])
    chosen = choose.choose_encoder(_auto_cfg(tmp_path), 3, tmp_path)
    assert chosen.encoder.name == "speech" and chosen.cluster.method == "kmeans" and len(seen) == 4
    for overrides in (["encoder.combinations=false"], ["cluster.method=agglomerative"]):
        seen = _fake_candidates(monkeypatch, [0.5, 0.6])
        assert choose.choose_encoder(_auto_cfg(tmp_path, *overrides), 3, tmp_path).encoder.name == "speaker"
        assert len(seen) == 2   # the candidates alone
    seen = _fake_candidates(monkeypatch, [0.5, 0.6, 0.9])   # more rows than consensus.max_rows: side by side only
    chosen = choose.choose_encoder(_auto_cfg(tmp_path, "consensus.max_rows=59"), 3, tmp_path)
    assert len(seen) == 3 and chosen.encoder.name == "mix" and chosen.cluster.method == "kmeans"
    seen = _fake_candidates(monkeypatch, [0.5, 0.6])   # a k search: no combination judged, and the run's own reducer
    assert choose.choose_encoder(_auto_cfg(tmp_path, "reduce.method=pca"), lambda z: 3, tmp_path).encoder.name == "speaker"
    assert len(seen) == 2 and "reduce.method=pca" in (tmp_path / "encoder_choice.json").read_text()
