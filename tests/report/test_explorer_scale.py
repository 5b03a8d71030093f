"""The explorer at scale: a bounded, stratified map sample; every clip findable through a compact lookup; the
page size at 100k and 1M windows."""
import numpy as np
import pytest

from audioclust.report import explorer
from audioclust.report.sample import stratified_sample
from audioclust.report.wandb_report import table_rows


def decode(lookup: dict, names: list[str]) -> list[tuple[str, float, int]]:
    """(file, onset, cluster) of every clip, as the page's find() reads the lookup."""
    digit = {ch: v for v, ch in enumerate(explorer.ALPHABET)}
    out = []
    for name, entry in zip(names, lookup["files"]):
        r, w, j = entry["r"], lookup["w"], 0
        for s, step, cnt in zip(r[0::3], r[1::3], r[2::3]):
            for q in range(cnt):
                code = entry["c"][(j + q) * w: (j + q + 1) * w]
                out.append((name, round(s + q * step, 3), sum(digit[ch] * 64 ** (w - 1 - p) for p, ch in enumerate(code)) - 1))
            j += cnt
        assert j * w == len(entry["c"])
    return out


def windows(n_files: int, per_file: int, k: int, seed: int = 0):
    """Rows of a windowed run over long files (each with an off-grid tail window), in (file, offset) order."""
    rng = np.random.default_rng(seed)
    paths, offsets = [], []
    for f in range(n_files):
        o = np.round(np.r_[np.arange(per_file - 1) * 0.1, (per_file - 2) * 0.1 + 0.037], 3)
        paths += [f"/rec/site_{f:04d}.wav"] * per_file
        offsets.append(o)
    clusters = rng.integers(-1, k, n_files * per_file)
    return paths, np.concatenate(offsets), clusters, rng.random(len(clusters))


def test_stratified_sample_keeps_every_cluster_and_noise_within_the_bound():
    rng = np.random.default_rng(1)
    clusters = np.r_[rng.integers(0, 5, 100_000), np.arange(5, 300), np.full(40, -1)]   # 295 singletons + noise
    pick = stratified_sample(clusters, 2000, seed=3)
    assert len(pick) == 2000 and np.all(np.diff(pick) > 0)
    assert set(clusters[pick]) == set(clusters)   # every cluster, noise included
    big = np.bincount(clusters[pick][clusters[pick] >= 0])[:5]
    assert big.min() > 250 and big.max() - big.min() < 0.1 * big.mean()   # the big ones keep equal shares
    assert np.array_equal(pick, stratified_sample(clusters, 2000, seed=3))
    assert not np.array_equal(pick, stratified_sample(clusters, 2000, seed=4))
    assert np.array_equal(stratified_sample(clusters[:50], 2000), np.arange(50))
    assert len(stratified_sample(np.arange(100), 10)) == 10   # more clusters than rows: one clip of 10 of them
    table = table_rows(clusters, rng.random(len(clusters)), 2000, seed=3)   # the W&B table: the same sample
    assert np.array_equal(np.sort(table), pick)


@pytest.mark.parametrize("k", [6, 200])
def test_lookup_gives_back_every_clip_with_its_onset_and_cluster(k):
    paths, offsets, clusters, _ = windows(7, 300, k)
    files = sorted(set(paths))
    fid = np.array([files.index(p) for p in paths])
    order = np.random.default_rng(0).permutation(len(paths))   # rows in any order
    lookup = explorer.clip_lookup(fid[order], offsets[order], clusters[order], len(files))
    assert lookup["w"] == (1 if k < 64 else 2)
    assert all(len(e["r"]) == 6 for e in lookup["files"])   # a hop run and the tail window, per file
    assert decode(lookup, files) == [(p, float(o), int(c)) for p, o, c in zip(paths, offsets, clusters)]
    events = np.array([0.0, 0.5, 1.0, 7.25, 7.75, 30.0])   # an activity detector's irregular windows
    assert explorer.offset_runs(events) == [0.0, 0.5, 3, 7.25, 0.5, 2, 30.0, 0, 1]


def page_bytes(tmp_path, n_files: int, per_file: int, k: int = 20, neighbours: int = 0) -> tuple[int, dict]:
    paths, offsets, clusters, dists = windows(n_files, per_file, k)
    drawn = stratified_sample(clusters, 20000, seed=0)
    rng = np.random.default_rng(0)
    xy = rng.normal(size=(len(drawn), 2))
    similar = (rng.integers(0, len(drawn), (len(drawn), neighbours)), 2 * rng.random((len(drawn), neighbours))) if neighbours else None
    data = explorer.page_data(xy, clusters, dists, paths, offsets, [None] * len(paths), tmp_path, drawn=drawn,
                              clip_seconds=1.0, windows=True, method="umap", similar=similar)
    page = explorer.write_page(tmp_path, data)
    return page.stat().st_size, data


def test_page_at_100k_windows_is_small_and_draws_the_sample(tmp_path):
    size, data = page_bytes(tmp_path, 20, 5000)
    print(f"\nexplorer.html at 100,000 windows: {size / 2 ** 20:.2f} MiB")
    assert data["n"] == 100_000 and len(data["x"]) == len(data["c"]) == 20000
    assert set(data["c"]) == set(range(-1, 20))
    assert size < 1.5 * 2 ** 20


@pytest.mark.slow
def test_page_at_1m_windows_stays_small(tmp_path):
    size, data = page_bytes(tmp_path, 200, 5000)
    print(f"\nexplorer.html at 1,000,000 windows: {size / 2 ** 20:.2f} MiB")
    assert data["n"] == 1_000_000 and len(data["x"]) == 20000
    assert size < 2.5 * 2 ** 20   # 1 byte per window in the lookup + the 20,000 drawn points
    assert len(data["rows"]) == 20000 and data["rows"][0] >= 0   # each drawn clip's row (curation), as gaps
    (tmp_path / "b").mkdir()
    size, _ = page_bytes(tmp_path / "b", 200, 5000, neighbours=8)   # with "more like this" (the default 8)
    print(f"explorer.html at 1,000,000 windows, 8 neighbours: {size / 2 ** 20:.2f} MiB")
    assert size < 3 * 2 ** 20


def test_more_like_this_adds_under_43_bytes_per_drawn_clip(tmp_path):
    """report.explorer_neighbours=8: 8 x (2-byte id + 2-byte distance) per drawn clip, base64: 42.7 bytes."""
    without, _ = page_bytes(tmp_path, 20, 5000)
    (tmp_path / "b").mkdir()
    with_, data = page_bytes(tmp_path / "b", 20, 5000, neighbours=8)
    assert data["similar"]["n"] == 8 and data["similar"]["bytes"] == 2
    print(f"\nexplorer.html at 20,000 drawn clips: +{(with_ - without) / 20000:.1f} bytes per drawn clip with 8 neighbours")
    assert 20000 * 8 * 4 * 4 / 3 <= with_ - without <= 20000 * 8 * 4 * 4 / 3 + 100


def test_cards_must_be_drawn(tmp_path):
    paths, offsets, clusters, dists = windows(1, 50, 3)
    with pytest.raises(ValueError, match="not among the drawn"):
        explorer.page_data(np.zeros((2, 2)), clusters, dists, paths, offsets, [None] * 50, tmp_path,
                           drawn=[0, 1], picks={0: ([5], [])})
