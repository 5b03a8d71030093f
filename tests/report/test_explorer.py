"""explorer.py without a browser: picks, the confusion table, relative audio URLs, safe inline data."""
import json
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from audioclust.report import explorer


def test_pick_extremes_typical_closest_atypical_farthest_never_overlapping():
    clusters = np.array([0] * 10 + [1] * 3 + [2])
    dists = np.r_[np.arange(10)[::-1], [0.5, 0.1, 0.9], [0.3]].astype(float)
    picks = explorer.pick_extremes(dists, clusters, n_typical=4, n_atypical=3)
    assert picks[0] == ([9, 8, 7, 6], [0, 1, 2])           # distances 0,1,2,3 / 9,8,7
    assert picks[1] == ([11, 10], [12])                    # 3 clips: one atypical, the rest typical
    assert picks[2] == ([13], [])
    for typ, atyp in picks.values():
        assert not set(typ) & set(atyp)


def test_confusion_counts_labelled_clips_only():
    table = explorer.confusion([0, 0, 1, 1, 2], ["a", "b", "b", "b", None])
    assert table == {"labels": ["a", "b"], "clusters": [0, 1], "counts": [[1, 1], [0, 2]]}
    assert explorer.confusion([0, 1], [None, ""]) is None


def test_audio_url_is_relative_and_percent_encoded(tmp_path):
    clip = tmp_path / "data" / "a b#1?.wav"
    page = tmp_path / "runs" / "fit"
    url = explorer.audio_url(str(clip), page)
    assert url == "../../data/a%20b%231%3F.wav"
    assert (page / unquote(url)).resolve() == clip.resolve()


def test_small_sets_can_embed_their_audio(tmp_path):
    import base64

    import soundfile as sf

    clip = tmp_path / "a.wav"
    sf.write(clip, np.zeros(800, np.float32), 8000)
    (src,) = explorer.audio_sources([str(clip)], tmp_path / "out", embed_mb=1)
    assert src.startswith("data:audio/wav;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == clip.read_bytes()
    assert explorer.audio_sources([str(clip)], tmp_path / "out", embed_mb=0.001) == ["../a.wav"]  # too big
    assert explorer.audio_sources([str(clip)], tmp_path / "out") == ["../a.wav"]  # off by default


def test_map_2d_pca_and_degenerate_inputs():
    rng = np.random.default_rng(0)
    z = np.r_[rng.normal(0, 0.1, (20, 5)), rng.normal(5, 0.1, (20, 5))]
    xy, method = explorer.map_2d(z, "auto", umap_min=1000)
    assert method == "pca" and xy.shape == (40, 2)
    assert np.sign(xy[:20, 0]).tolist() == [np.sign(xy[0, 0])] * 20 != np.sign(xy[20:, 0]).tolist()
    assert explorer.map_2d(z[:2])[0].shape == (2, 2)
    with pytest.raises(ValueError, match="unknown explorer map"):
        explorer.map_2d(z, "tsne")


@pytest.mark.parametrize("gpu", [False, "auto"])
def test_the_maps_umap_neighbours_are_searched_where_the_runs_kmeans_gpu_says(gpu, monkeypatch):
    """The explorer's 2-D UMAP finds its neighbours with FAISS where gpu says (cluster.py passes kmeans.gpu): with
    kmeans.gpu=false the map no longer probes the GPU."""
    from audioclust.cluster import reduce as reduce_module

    asked = []
    real = reduce_module.flat_index
    monkeypatch.setattr(reduce_module, "flat_index", lambda d, g="auto": asked.append(g) or real(d, False))
    z = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    xy, method = explorer.map_2d(z, "umap", gpu=gpu)
    assert method == "umap" and xy.shape == (40, 2) and asked == [gpu]


def test_rendered_page_is_self_contained_and_data_cannot_break_out(tmp_path):
    paths = [str(tmp_path / "x<!--<script><b>.wav"), str(tmp_path / "y.wav")]
    data = explorer.page_data(np.eye(2), [0, 1], [0.1, 0.2], paths, [0.0, 0.0], ["</script>", "b"], tmp_path,
                              scores={"acc": 0.5, "nmi": None}, title="<i>t</i>")
    html = explorer.render(data)
    assert html.count("</script>") == 2  # the data script's end and the code's end, none from the data
    assert "<i>t</i>" not in html and "&lt;i&gt;t&lt;/i&gt;" in html
    assert not re.search(r"(src|href)=\"https?:", html) and "cdn" not in html.lower()
    inline = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert "<" not in inline
    parsed = json.loads(inline)
    assert parsed["names"] == ["x<!--<script><b>.wav", "y.wav"] and parsed["scores"] == {"acc": 0.5}
    assert parsed["confusion"]["labels"] == ["</script>", "b"]
    page = explorer.write_page(tmp_path, data)
    assert Path(page).read_text() == html


def test_page_data_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError, match="one entry per clip"):
        explorer.page_data(np.zeros((2, 2)), [0, 1], [0.1], ["a", "b"], [0, 0], [None, None], tmp_path)


def _brute_force(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's n nearest other rows in the clusters' space (z-score, then unit length), by numpy."""
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    d = np.sqrt(np.maximum(((z[:, None] - z[None]) ** 2).sum(-1), 0))
    np.fill_diagonal(d, np.inf)
    ids = np.argsort(d, axis=1, kind="stable")[:, :n]
    return ids, np.take_along_axis(d, ids, 1)


def _unpack(similar: dict, m: int) -> tuple[np.ndarray, np.ndarray]:
    import base64

    kind = "<u2" if similar["bytes"] == 2 else "<u4"
    ids = np.frombuffer(base64.b64decode(similar["i"]), kind).reshape(m, similar["n"]).astype(np.int64)
    d = np.frombuffer(base64.b64decode(similar["d"]), "<u2").reshape(m, similar["n"]) / 1000
    return ids, d


def test_more_like_this_neighbours_equal_a_brute_force_search_and_survive_the_page_data(tmp_path):
    rng = np.random.default_rng(0)
    spread = np.r_[np.full(20, 0.5), np.full(20, 4.0)]   # dimensions of unequal spread: the z-score matters
    x = ((rng.normal(size=(6, 40))[rng.integers(0, 6, 300)] + rng.normal(size=(300, 40))) * spread).astype(np.float32)
    ids, dist = explorer.neighbours(x, 8)
    want_ids, want_d = _brute_force(x.astype(np.float64), 8)
    assert ids.shape == dist.shape == (300, 8)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_d, atol=1e-4)

    drawn = np.sort(rng.choice(1000, 300, replace=False))   # the map's clips among 1000
    clusters = rng.integers(0, 6, 1000)
    paths = [str(tmp_path / f"c{i}.wav") for i in range(1000)]
    data = explorer.page_data(rng.normal(size=(300, 2)), clusters, rng.random(1000), paths, np.zeros(1000), [None] * 1000,
                              tmp_path, drawn=drawn, similar=(ids, dist))
    got_ids, got_d = _unpack(json.loads(json.dumps(data))["similar"], 300)
    np.testing.assert_array_equal(got_ids, want_ids)   # positions among the drawn clips
    np.testing.assert_allclose(got_d, np.round(want_d, 3), atol=1e-9)
    with pytest.raises(ValueError, match="one row per drawn clip"):
        explorer.page_data(np.zeros((2, 2)), [0, 1], [0.1, 0.2], ["a", "b"], [0, 0], [None, None], tmp_path,
                           similar=(ids, dist))


def test_more_like_this_few_clips_and_wide_ids():
    x = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    ids, dist = explorer.neighbours(x, 8)   # only 2 others
    assert ids.shape == (3, 2) and sorted(ids[0].tolist()) == [1, 2] and np.all(dist > 0)
    assert explorer.neighbours(x[:1], 8)[0].shape == (1, 0)
    ids, dist = np.zeros((70001, 2), np.int64), np.zeros((70001, 2))
    ids[0], dist[0] = [70000, -1], [0.5, np.inf]   # a neighbour beyond uint16, and none
    wide = explorer.pack_similar(ids, dist, 70001)   # from 65,535 points: uint32 ids
    assert wide["bytes"] == 4
    got_ids, got_d = _unpack(wide, 70001)
    assert got_ids[0].tolist() == [70000, 2 ** 32 - 1] and got_d[0].tolist() == [0.5, 65.535]


def test_explorer_neighbours_setting_is_checked():
    from audioclust.errors import ConfigError
    from audioclust.report.outputs import ReportSettings

    assert ReportSettings().explorer_neighbours == 8 and ReportSettings(explorer_neighbours=0).explorer_neighbours == 0
    with pytest.raises(ConfigError, match="report.explorer_neighbours must be an integer >= 0"):
        ReportSettings(explorer_neighbours=-1)


def test_page_data_names_the_fit_each_drawn_clips_row_and_the_folders(tmp_path):
    """What curating needs: the fit id (metrics.json's fit_id), each drawn clip's row of assignments.csv (as gaps
    between sorted rows; None when every row is drawn) and each file's folder, named from the files' common parent."""
    paths = [str(tmp_path / "rec" / d / f) for d, f in [("a", "x.wav"), ("b", "y.wav"), ("a", "z.wav"), ("b", "y.wav")]]
    drawn = np.array([1, 3])
    data = explorer.page_data(np.zeros((2, 2)), [0, 1, 0, 1], [0.1] * 4, paths, [0.0, 0.0, 0.0, 1.0], [None] * 4, tmp_path,
                              drawn=drawn, scores={"fit_id": "0123456789abcdef"})
    assert data["fit"] == "0123456789abcdef" and np.cumsum(data["rows"]).tolist() == drawn.tolist()
    assert data["folders"] == ["rec/a", "rec/b"] and [data["folders"][data["fd"][f]] for f in data["f"]] == ["rec/b", "rec/b"]
    every = explorer.page_data(np.zeros((4, 2)), [0, 1, 0, 1], [0.1] * 4, paths, [0.0] * 4, [None] * 4, tmp_path)
    assert every["fit"] is None and every["rows"] is None
    assert explorer.folder_names([str(tmp_path / "one.wav")])[0] == [tmp_path.name]
