"""explorer.html in a real browser: Debian's headless chromium driven by Selenium, the page opened from disk.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`make sysdeps-browser` installs them as root) and the
`selenium` package (dev extra); skips with the reason otherwise.
"""
import csv
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from common_utils import run_script

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--window-size=1300,1000")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -e '.[dev]')")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)),
    reason=f"no chromium/chromedriver at {CHROMIUM} / {DRIVER}: run `make sysdeps-browser` as root "
           "(apt-get install chromium chromium-driver)")]


def chromium(downloads=None):
    """A headless Chromium with its own profile (its own localStorage); downloads (a folder) go there when given.
    A generator: the fixtures yield from it, it quits and removes the profile."""
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    if downloads is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=opts, service=Service(DRIVER))
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def _open(driver, page: Path) -> dict:
    t0 = time.perf_counter()
    driver.get(page.resolve().as_uri())
    _wait(driver, "return document.body && document.body.dataset.ready === 'true'")
    wall = time.perf_counter() - t0
    info = driver.execute_script("return {n: explorer.data.n, drawn: explorer.pointsDrawn, ready: explorer.readyMs,"
                                 " attr: document.getElementById('map').dataset.pointsDrawn,"
                                 " load: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd}")
    return {**info, "wall_s": wall}


def _wait(driver, script: str, timeout: float = 10.0):
    end = time.time() + timeout
    while time.time() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for: {script}")


def _isolated_point(driver) -> int:
    """The clip whose nearest neighbour on screen is farthest away, so a click hits it and only it."""
    xy = np.array(driver.execute_script("return Array.from({length: explorer.data.n}, (_, i) => explorer.screenXY(i))"))
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    return int(d.min(axis=1).argmax())


def _pointer(driver, i: int, click: bool = False) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "map")
    x, y = driver.execute_script("return explorer.screenXY(arguments[0])", i)
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", canvas)
    dx, dy = round(x - rect["left"] - rect["width"] / 2), round(y - rect["top"] - rect["height"] / 2)
    chain = ActionChains(driver).move_to_element_with_offset(canvas, dx, dy)
    (chain.click() if click else chain).perform()


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explorer")
    run = tmp / "run"
    p = run_script("train.py", "debug=default", f"paths.cache_dir={tmp}/cache", "data.synthetic.n_per_class=3",
                   "data.max_files=null", "trainer.max_epochs=1", "threads=1", f"hydra.run.dir={run}")
    assert p.returncode == 0, p.stderr[-3000:]
    p = run_script("cluster.py", f"run_dir={run}", f"hydra.run.dir={run}/fit/a", "kmeans.k=20", "threads=1",
                   "wandb.enabled=false", "report.plots=false")
    assert p.returncode == 0, p.stderr[-3000:]
    return run / "fit" / "a"


def test_explorer_shows_every_clip_and_plays_a_clicked_one(browser, clustered, tmp_path):
    out = clustered
    with open(out / "assignments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    info = _open(browser, out / "explorer.html")
    assert info["n"] == info["drawn"] == int(info["attr"]) == len(rows) == 60
    fit = json.loads((out / "metrics.json").read_text())["fit_id"]   # the page curates this fit (docs/curation.md)
    assert browser.execute_script("return [explorer.data.fit, explorer.rows()]") == [fit, list(range(60))]
    names = browser.execute_script("return explorer.data.f.map(f => explorer.data.names[f])")
    assert sorted(names) == sorted(Path(r["path"]).name for r in rows)

    i = _isolated_point(browser)
    _pointer(browser, i)
    tip = _wait(browser, "const t = document.getElementById('tip'); return t.style.display === 'block' && t.textContent")
    assert names[i] in tip and "cluster" in tip and "distance" in tip

    _pointer(browser, i, click=True)
    state = _wait(browser, "const a = explorer.audio; return !a.paused && a.currentTime > 0 && "
                           "{src: a.src, error: a.error, t: a.currentTime}")
    assert state["error"] is None and state["src"].endswith(names[i]) and state["t"] > 0
    assert Path(out, browser.execute_script("return explorer.data.files[explorer.data.f[arguments[0]]]", i)).resolve() \
        == Path(next(r["path"] for r in rows if Path(r["path"]).name == names[i])).resolve()

    shot = tmp_path / "explorer.png"   # tests write only under their own temporary folder
    assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cluster_cards_thumbnails_play_buttons_and_confusion(browser, clustered):
    out = clustered
    metrics = json.loads((out / "metrics.json").read_text())
    _open(browser, out / "explorer.html")
    cards = browser.find_elements("css selector", "#cards .card")
    assert len(cards) == metrics["n_clusters"]
    first = cards[0]
    browser.execute_script("arguments[0].scrollIntoView()", first)
    _wait(browser, "return Array.from(document.querySelectorAll('#cards .card')[0].querySelectorAll('img'))"
                   ".every(i => i.complete && i.naturalWidth > 0)")
    thumbs = list((out / "explorer_files").glob("*.png"))
    shown = browser.execute_script("return document.querySelectorAll('#cards img').length")
    assert shown == len(thumbs) > 0
    button = first.find_element("css selector", "button.play")
    button.click()
    _wait(browser, "return !explorer.audio.paused && explorer.audio.currentTime > 0")
    table = browser.execute_script("return Array.from(document.querySelectorAll('#confusion tr')).slice(1).map("
                                   "r => Array.from(r.querySelectorAll('td')).map(td => Number(td.textContent || 0)))")
    assert len(table) == metrics["n_clusters"] and sum(map(sum, table)) == metrics["n_clips"]
    assert [sum(r) for r in table] == [s for s in metrics["cluster_sizes"] if s]
    linked = browser.execute_script("return Array.from(document.querySelectorAll('[src],[href]'), e => e.src || e.href)")
    assert len(linked) > len(thumbs) and all(u.startswith("file:") for u in linked), linked  # all from disk
    header = browser.find_element("id", "scores").text
    assert f"ACC {metrics['acc']:.3f}" in header and f"NMI {metrics['nmi']:.3f}" in header


def test_3000_clips_drawn_and_redrawn(browser, tmp_path):
    """Every clip is drawn, and still after redraws (each hover redraws); load and redraw times are measured by
    bench/explorer.py, not here."""
    from audioclust.report import explorer

    n, k = 3000, 12
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, k, n)
    z = rng.normal(size=(k, 16))[clusters] + 0.3 * rng.normal(size=(n, 16))
    dists = rng.random(n)
    paths = [str(tmp_path / "clips" / f"c{c}" / f"clip_{i:04d}.wav") for i, c in enumerate(clusters)]
    xy, method = explorer.map_2d(z, "pca")
    data = explorer.page_data(xy, clusters, dists, paths, np.zeros(n), [f"c{c}" for c in clusters], tmp_path,
                              picks=explorer.pick_extremes(dists, clusters, 6, 3), scores={"acc": 1.0}, method=method)
    page = explorer.write_page(tmp_path, data)
    info = _open(browser, page)
    assert info["drawn"] == int(info["attr"]) == n
    browser.execute_script("for (let j = 0; j < 10; j++) window.dispatchEvent(new Event('resize'));")
    assert browser.execute_script("return explorer.pointsDrawn") == n


def test_embedded_audio_plays_after_the_clips_are_gone(browser, tmp_path):
    import soundfile as sf
    from common_utils import tone

    from audioclust.report import explorer

    paths = [str(tmp_path / f"t{i}.wav") for i in range(2)]
    for i, p in enumerate(paths):
        sf.write(p, tone(300 + 200 * i), 16000)
    data = explorer.page_data(np.eye(2), [0, 1], [0.1, 0.2], paths, [0.0, 0.0], [None, None], tmp_path / "page",
                              embed_audio_mb=1)
    page = explorer.write_page(tmp_path / "page", data)
    for p in paths:
        os.unlink(p)
    _open(browser, page)
    browser.execute_script("explorer.play(1)")
    state = _wait(browser, "const a = explorer.audio; return !a.paused && a.currentTime > 0 && {src: a.src.slice(0, 30)}")
    assert state["src"].startswith("data:audio/wav;base64,")


def test_noise_drawn_grey_listed_as_noise_and_focusable(browser, tmp_path):
    """HDBSCAN's cluster -1: every clip drawn, a grey 'noise' legend button that shows the noise alone, a last
    'Noise' card and a 'noise' row in the clusters x labels table."""
    from audioclust.report import explorer

    rng = np.random.default_rng(0)
    clusters = np.r_[np.zeros(20, int), np.ones(20, int), np.full(10, -1)]
    xy, dists = rng.normal(size=(50, 2)) + 4 * clusters[:, None], rng.random(50)
    labels = ["a"] * 20 + ["b"] * 20 + ["a", "b"] * 5
    data = explorer.page_data(xy, clusters, dists, [str(tmp_path / f"c{i}.wav") for i in range(50)], np.zeros(50),
                              labels, tmp_path, picks=explorer.pick_extremes(dists, clusters, 3, 2),
                              scores={"nmi": 0.5, "noise_fraction": 0.2, "nmi_clustered": 0.9})
    info = _open(browser, explorer.write_page(tmp_path, data))
    assert info["drawn"] == 50
    summary = browser.find_element("id", "summary").text
    assert "2 clusters, 10 noise" in summary
    legend = browser.find_elements("css selector", "#legend button")
    assert [b.text for b in legend] == ["0 (20)", "1 (20)", "noise (10)"]
    assert browser.execute_script("return getComputedStyle(arguments[0].querySelector('.sw')).backgroundColor",
                                  legend[2]) == "rgb(176, 176, 176)"
    legend[2].click()
    assert "on" in legend[2].get_attribute("class")
    header = browser.find_element("id", "scores").text
    assert "NOISE FRACTION 0.200" in header and "NMI (CLUSTERED CLIPS) 0.900" in header
    cards = browser.find_elements("css selector", "#cards .card h3")
    assert cards[-1].text.startswith("Noise: 10 clips in no cluster")
    rows = browser.execute_script("return Array.from(document.querySelectorAll('#confusion tr th:first-child'))"
                                  ".map(t => t.textContent)")
    assert rows[-1] == "noise"


def test_search_finds_an_undrawn_window_by_file_and_time_and_plays_it_from_its_onset(browser, tmp_path):
    """A map of a sample of the windows: the search box still lists any window by file name and time, with its
    cluster, and its play button plays the recording from the window's onset."""
    import soundfile as sf

    from audioclust.report import explorer
    from audioclust.report.sample import stratified_sample

    sr, seconds, hop = 8000, 60.0, 0.1
    rng = np.random.default_rng(0)
    paths, offsets = [], []
    for name in ("dawn_site_a.wav", "dawn_site_b.wav", "dusk_site_a.wav"):
        sf.write(tmp_path / name, 0.1 * rng.standard_normal(int(sr * seconds)).astype(np.float32), sr)
        o = np.round(np.arange(int((seconds - 1) / hop) + 1) * hop, 3)
        paths += [str(tmp_path / name)] * len(o)
        offsets.append(o)
    offsets = np.concatenate(offsets)
    n = len(paths)
    clusters = rng.integers(-1, 8, n)
    drawn = stratified_sample(clusters, 300, seed=0)
    data = explorer.page_data(rng.normal(size=(len(drawn), 2)), clusters, rng.random(n), paths, offsets,
                              [None] * n, tmp_path, drawn=drawn, clip_seconds=1.0, windows=True, method="pca")
    info = _open(browser, explorer.write_page(tmp_path, data))
    assert info["n"] == n == 3 * 591 and info["drawn"] == 300
    assert f"{n} clips" in browser.find_element("id", "summary").text and "300 on the map" in \
        browser.find_element("id", "summary").text

    want = next(i for i in range(591, 2 * 591) if i not in set(drawn.tolist()) and offsets[i] > 20)  # site b, not drawn
    t = float(offsets[want]) + 0.95   # inside windows want-9 .. want
    browser.find_element("id", "q").send_keys("SITE_B")
    browser.find_element("id", "t").send_keys(f"{t:.2f}")
    hits = _wait(browser, "const r = document.querySelectorAll('#results .hit'); return r.length && "
                          "Array.from(r, h => h.textContent)")
    expect = [i for i in range(591, 2 * 591) if offsets[i] <= t < offsets[i] + 1.0]
    assert len(hits) == len(expect) == 10
    for h, i in zip(hits, expect):
        cname = "noise" if clusters[i] < 0 else f"cluster {clusters[i]}"
        assert h.endswith(f"dawn_site_b.wav @ {offsets[i]:.2f} s: {cname}"), (h, i)
    assert browser.find_element("id", "found").text.startswith("10 windows")

    last = browser.find_elements("css selector", "#results .hit button.play")[-1]
    last.click()
    state = _wait(browser, "const a = explorer.audio; return !a.paused && a.currentTime > 0 && "
                           "{src: a.src, t: a.currentTime, error: a.error}")
    assert state["error"] is None and "dawn_site_b.wav#t=" in state["src"]
    assert offsets[want] - 0.05 <= state["t"] < offsets[want] + 1.0   # from the window's onset

    everything = browser.execute_script("return explorer.find('site', null)")
    assert everything["total"] == n and len(everything["hits"]) == 100   # listed up to 100, counted all
    browser.find_element("id", "t").clear()
    browser.execute_script("document.getElementById('q').value = 'dusk'; explorer.search()")
    assert browser.find_element("id", "found").text == "591 windows, the first 100 listed: add a time or more of the name"
    assert len(browser.find_elements("css selector", "#results .hit")) == 100


def _teal_ring(driver, j: int) -> int:
    """How many of 16 pixels on the ring around drawn clip j have the 'more like this' colour (#00897b)."""
    return driver.execute_script("""
        const j = arguments[0], cv = document.getElementById('map'), r = cv.getBoundingClientRect();
        const [x, y] = explorer.screenXY(j), dpr = window.devicePixelRatio || 1, ctx = cv.getContext('2d');
        const rad = (explorer.data.x.length > 1500 ? 2.2 : explorer.data.x.length > 300 ? 3 : 4.5) + 3;
        let hits = 0;
        for (let a = 0; a < 16; a++) {
          const px = (x - r.left + rad * Math.cos(a * Math.PI / 8)) * dpr, py = (y - r.top + rad * Math.sin(a * Math.PI / 8)) * dpr;
          const [R, G, B] = ctx.getImageData(Math.floor(px), Math.floor(py), 1, 1).data;
          if (Math.hypot(R - 0, G - 137, B - 123) < 70) hits++;
        }
        return hits;""", j)


def test_clicked_clip_lists_more_like_it_nearest_by_the_search_engine(browser, clustered):
    """Click a clip on the map: 'More like this' lists its nearest clips (file, cluster, distance, play button), the
    first being its nearest by audioclust.search over the run's embeddings.npy, and rings them on the map."""
    from audioclust.api import search

    out = clustered
    with open(out / "assignments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    info = _open(browser, out / "explorer.html")
    assert info["n"] == info["drawn"] == len(rows)   # every clip drawn: point i is row i
    assert browser.find_element("id", "similarbox").is_displayed()
    i = _isolated_point(browser)
    x = np.load(out / "embeddings.npy")
    want = search(x, i, 8)   # the engine's 8 nearest rows to row i, nearest first, i left out
    assert list(want.rank) == list(range(1, 9))
    first = int(want.row[0])
    before = _teal_ring(browser, first)
    _pointer(browser, i, click=True)
    hits = _wait(browser, "const r = document.querySelectorAll('#similar .hit'); return r.length && "
                          "Array.from(r, h => ({i: Number(h.dataset.i), text: h.textContent, play: !!h.querySelector('button.play')}))")
    assert len(hits) == 8 and browser.execute_script("return explorer.selected()") == i
    assert hits[0]["i"] == first   # the engine's nearest clip to the clicked one
    assert [h["i"] for h in hits] == want.row.tolist()   # and the rest, in its order
    name, cluster = Path(rows[first]["path"]).name, int(rows[first]["cluster"])
    assert name in hits[0]["text"] and f"cluster {cluster}" in hits[0]["text"] and hits[0]["play"]
    assert f"distance {want.distance[0]:.3f}" in hits[0]["text"]
    assert all(h["play"] for h in hits) and i not in [h["i"] for h in hits]
    assert _teal_ring(browser, first) > before   # ringed on the map

    browser.find_elements("css selector", "#similar .hit button.play")[0].click()   # plays the neighbour
    state = _wait(browser, "const a = explorer.audio; return !a.paused && a.currentTime > 0 && {src: a.src, error: a.error}")
    assert state["error"] is None and state["src"].endswith(name)
    assert browser.execute_script("return explorer.selected()") == i   # the list stays
    browser.find_elements("css selector", "#similar .hit button.more")[0].click()   # more like the neighbour
    assert browser.execute_script("return explorer.selected()") == first
    assert int(_wait(browser, "const h = document.querySelector('#similar .hit'); return h && h.dataset.i")) \
        == int(search(x, first, 1).row[0])   # a string: row 0 is an answer too
