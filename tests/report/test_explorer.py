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
