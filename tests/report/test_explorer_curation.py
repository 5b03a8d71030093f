"""Curating in explorer.html (docs/curation.md): select clips on the map (box, lasso, shift-click), rename, merge,
split, move, noise, label, undo, colour-by, the work kept in localStorage under the fit's id, and the exported
curation.json read back by audioclust.curate.schema.load. Debian's headless chromium through Selenium, the page
opened from disk (as tests/report/test_explorer_browser.py, whose skips apply here too)."""
import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
from test_explorer_browser import _open, _wait, chromium, pytestmark  # noqa: F401 (pytestmark)

from audioclust.curate.schema import load
from audioclust.report import explorer
from audioclust.report.outputs import fit_id

PAL = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]   # the page's first cluster colours


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    """One Chromium for the module (its own profile: its own localStorage), downloads into `downloads`."""
    yield from chromium(downloads)


def make_fit(folder: Path, seed: int = 0, n: int = 120, k: int = 4):
    """A small windowed fit: 4 clusters far apart on the map, 3 recordings in 2 folders, 80 of its 120 rows drawn
    (so a drawn clip's position is not its row); assignments.csv written, its fit_id in the scores. Returns (page,
    fit id, rows, drawn, clusters)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    clusters = np.repeat(np.arange(k), n // k)
    files = [folder / "site_a" / "dawn.wav", folder / "site_a" / "dusk.wav", folder / "site_b" / "dawn.wav"]
    paths = [str(files[i % 3]) for i in range(n)]
    offsets = np.round(np.arange(n) // 3 * 0.5, 3)
    dists = rng.random(n)
    labels = ["bird" if c < 2 else "wind" for c in clusters]
    with open(folder / "assignments.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "offset", "cluster", "distance", "label"])
        w.writerows(zip(paths, offsets, clusters, np.round(dists, 5), labels))
    fid = fit_id(folder / "assignments.csv")
    drawn = np.sort(rng.choice(n, 80, replace=False))
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10]])
    xy = centres[clusters[drawn]] + rng.normal(scale=1.0, size=(len(drawn), 2))
    picks = {c: ([int(i) for i in drawn[clusters[drawn] == c][:2]], [int(drawn[clusters[drawn] == c][-1])]) for c in range(k)}
    data = explorer.page_data(xy, clusters, dists, paths, offsets, labels, folder, drawn=drawn, picks=picks,
                              scores={"fit_id": fid, "acc": 1.0}, clip_seconds=1.0, windows=True, method="pca")
    return explorer.write_page(folder, data), fid, n, drawn, clusters


def screen(driver) -> np.ndarray:
    return np.array(driver.execute_script("return Array.from({length: explorer.data.x.length}, (_, i) => explorer.screenXY(i))"))


def drag(driver, points, modifier=None) -> None:
    """Press at the first point (page coordinates), move through the others, release there; modifier held down."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = driver.find_element("id", "map")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", canvas)
    centre = np.array([rect["left"] + rect["width"] / 2, rect["top"] + rect["height"] / 2])
    chain = ActionChains(driver)
    if modifier:
        chain.key_down(modifier)
    x0, y0 = np.round(np.asarray(points[0]) - centre).astype(int)
    chain.move_to_element_with_offset(canvas, int(x0), int(y0)).click_and_hold()
    last = np.array([x0, y0])
    for p in points[1:]:
        step = np.round(np.asarray(p) - centre).astype(int)
        chain.move_by_offset(int(step[0] - last[0]), int(step[1] - last[1]))
        last = step
    chain.release()
    if modifier:
        chain.key_up(modifier)
    chain.perform()


def inside_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    from matplotlib.path import Path as Polygon

    return Polygon(poly).contains_points(xy)


def edge_distance(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Each point's distance to the closed polygon's outline."""
    a, b = poly, np.roll(poly, -1, axis=0)
    t = np.clip(((xy[:, None] - a) * (b - a)).sum(-1) / ((b - a) ** 2).sum(-1), 0, 1)
    return np.linalg.norm(xy[:, None] - (a + t[..., None] * (b - a)), axis=-1).min(1)


def choose(driver, select_id: str, *values) -> None:
    from selenium.webdriver.support.ui import Select

    s = Select(driver.find_element("id", select_id))
    if s.is_multiple:
        s.deselect_all()
    for v in values:
        s.select_by_value(str(v))


def type_into(driver, field_id: str, text: str) -> None:
    e = driver.find_element("id", field_id)
    e.clear()
    e.send_keys(text)


def click(driver, button_id: str) -> None:
    driver.find_element("id", button_id).click()


def state(driver) -> dict:
    return driver.execute_script("return {ops: explorer.operations(), sel: explorer.selection(), sizes: explorer.sizes(),"
                                 " cur: explorer.clusters(), rows: explorer.rows(), colours: explorer.colours(),"
                                 " count: document.getElementById('selcount').textContent,"
                                 " legend: Array.from(document.querySelectorAll('#legend button'), b => b.textContent),"
                                 " cards: Object.fromEntries(Array.from(document.querySelectorAll('#cards .card'),"
                                 "   c => [c.id, c.querySelector('h3').textContent]))}")


def exported(driver, tmp_path: Path) -> Path:
    """The curation.json the page shows (the same text its Export button downloads), as a file."""
    path = tmp_path / "curation.json"
    path.write_text(driver.find_element("id", "curation").get_attribute("value"))
    return path


def test_curate_select_edit_undo_reload_export(browser, downloads, tmp_path):
    page, fid, n, drawn, clusters = make_fit(tmp_path / "fit")
    info = _open(browser, page)
    assert info["drawn"] == 80 and browser.execute_script("return explorer.data.fit") == fid
    s = state(browser)
    assert s["ops"] == [] and s["rows"] == drawn.tolist()   # each drawn clip knows its row of assignments.csv
    base = {int(c): int((clusters == c).sum()) for c in range(4)}
    assert s["sizes"] == {str(c): v for c, v in base.items()}

    # box: the left half of cluster 0 on the screen
    xy = screen(browser)
    c0 = np.flatnonzero(clusters[drawn] == 0)
    (x0, y0), y1 = xy[c0].min(0) - 6, xy[c0].max(0)[1] + 6
    xs = np.sort(xy[c0, 0])[len(c0) // 4: 3 * len(c0) // 4 + 1]   # the right edge: in the widest gap near the middle
    gap = int(np.diff(xs).argmax())
    xm = (xs[gap] + xs[gap + 1]) / 2
    assert xs[gap + 1] - xs[gap] > 4   # no clip within 2 px of an edge: a pixel's rounding cannot change the answer
    drag(browser, [(x0, y0), ((x0 + xm) / 2, (y0 + y1) / 2), (xm, y1)])
    in_box = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] <= xm) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1))
    s = state(browser)
    box_rows = drawn[in_box].tolist()
    assert 0 < len(box_rows) < len(c0) and set(clusters[box_rows]) == {0}
    assert s["sel"] == box_rows and s["count"] == f"{len(box_rows)} clips selected"
    assert browser.execute_script("return explorer.audio.paused")   # a drag plays nothing

    choose(browser, "moveto", 2)
    click(browser, "move")
    s = state(browser)
    moved = [drawn.tolist().index(r) for r in box_rows]
    assert all(s["cur"][i] == 2 for i in moved) and all(s["colours"][i] == PAL[2] for i in moved)   # recoloured at once
    assert s["sizes"]["0"] == base[0] - len(box_rows) and s["sizes"]["2"] == base[2] + len(box_rows)
    assert s["legend"][0] == f"0 ({base[0] - len(box_rows)})" and s["cards"]["cluster-0"].startswith(f"Cluster 0: {base[0] - len(box_rows)} clips")

    click(browser, "clearsel")
    assert state(browser)["sel"] == [] and state(browser)["count"] == "0 clips selected"

    # lasso (shift-drag): a pentagon around cluster 3 (its box with a corner cut off)
    c3 = np.flatnonzero(clusters[drawn] == 3)
    lo, hi = xy[c3].min(0) - 10, xy[c3].max(0) + 10
    ring = [(lo[0], lo[1]), (hi[0], lo[1]), (hi[0], hi[1]), (lo[0] + 25, hi[1]), (lo[0], hi[1] - 25)]
    from selenium.webdriver.common.keys import Keys

    drag(browser, ring + [ring[0]], Keys.SHIFT)
    inner = inside_polygon(xy, np.array(ring))
    assert edge_distance(xy, np.array(ring)).min() > 2   # no clip on the line: a pixel's rounding cannot change the answer
    lasso_rows = drawn[np.flatnonzero(inner)].tolist()
    s = state(browser)
    assert set(clusters[lasso_rows]) == {3} and len(lasso_rows) >= len(c3) - 2 and s["sel"] == lasso_rows
    c3 = [drawn.tolist().index(r) for r in lasso_rows]

    # shift-click a clip in a card: out of the selection, and in again
    pick = browser.find_element("css selector", f"#cluster-3 figure button.pick[data-i='{c3[0]}']")
    pick.click()
    assert state(browser)["sel"] == lasso_rows[1:] and pick.get_attribute("aria-pressed") == "false"
    from selenium.webdriver.common.action_chains import ActionChains

    play = browser.find_elements("css selector", "#cluster-3 figure button.play")[0]
    ActionChains(browser).key_down(Keys.SHIFT).click(play).key_up(Keys.SHIFT).perform()
    assert state(browser)["sel"] == lasso_rows and pick.get_attribute("aria-pressed") == "true"

    type_into(browser, "labelname", "  rain ")
    click(browser, "label")
    click(browser, "noiseclips")
    s = state(browser)
    assert all(s["cur"][i] == -1 for i in c3) and s["sizes"]["-1"] == len(c3) and s["legend"][-1] == f"noise ({len(c3)})"
    assert s["cards"]["cluster-noise"].startswith(f"Noise: {len(c3)} clips in no cluster")   # a noise card, made now

    choose(browser, "cluster", 1)
    type_into(browser, "newname", "woodpecker")
    click(browser, "rename")
    choose(browser, "mergewith", 2)
    click(browser, "merge")
    s = state(browser)
    assert s["sizes"]["1"] == base[1] + base[2] + len(box_rows) and s["sizes"]["2"] == 0
    assert s["cards"]["cluster-1"].startswith(f'Cluster 1 "woodpecker": {s["sizes"]["1"]} clips')
    assert s["cards"]["cluster-2"].endswith('merged into cluster 1 "woodpecker"')
    assert "2 (" not in " ".join(s["legend"]) and f'1 woodpecker ({s["sizes"]["1"]})' in s["legend"]
    assert all(s["cur"][i] == 1 for i in moved)   # the clips moved to 2 went along

    choose(browser, "cluster", 0)
    type_into(browser, "splitn", "3")
    click(browser, "split")
    assert state(browser)["cards"]["cluster-0"].endswith("to split in 3")

    click(browser, "noisecluster")   # a cluster marked to split is left alone until it is (audioclust-curate splits it)
    assert len(state(browser)["ops"]) == 6 and "marked to split" in browser.find_element("id", "curmsg").text

    size1 = state(browser)["sizes"]["1"]
    choose(browser, "cluster", 1)
    click(browser, "noisecluster")   # then undone with Ctrl+Z
    assert state(browser)["sizes"]["1"] == 0 and state(browser)["sizes"]["-1"] == len(c3) + size1
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    s = state(browser)
    assert s["sizes"]["1"] == size1 and s["sizes"]["-1"] == len(c3) and len(s["ops"]) == 6
    type_into(browser, "newname", "oops")   # and the Undo button
    click(browser, "rename")
    click(browser, "undo")

    want = [{"op": "move", "clips": box_rows, "to": 2},
            {"op": "label", "clips": lasso_rows, "name": "rain"},
            {"op": "noise", "clips": lasso_rows},
            {"op": "rename", "cluster": 1, "name": "woodpecker"},
            {"op": "merge", "clusters": [1, 2]},
            {"op": "split", "cluster": 0, "n": 3}]
    s = state(browser)
    assert s["ops"] == want
    from audioclust.curate.apply import apply_operations

    done = apply_operations(want[:-1], clusters, np.zeros((n, 2)))   # what audioclust-curate makes of it (less the split)
    assert done.clusters[drawn].tolist() == s["cur"]   # is what the page shows
    assert {str(c): int((done.clusters == c).sum()) for c in range(-1, 4)} == {k: v for k, v in s["sizes"].items()}
    assert done.names == {1: "woodpecker"} and done.row_names == dict.fromkeys(lasso_rows, "rain")

    browser.refresh()   # the work comes back from localStorage
    _wait(browser, "return document.body.dataset.ready === 'true'")
    s = state(browser)
    assert s["ops"] == want and s["sizes"]["1"] == base[1] + base[2] + len(box_rows) and s["sel"] == []
    assert browser.find_element("id", "curmsg").text == "restored 6 operations of this fit (kept in this browser)"

    click(browser, "export")
    path = exported(browser, tmp_path)
    cur = load(path, fit=fid, n_clips=n)
    assert cur.operations == want and cur.fit == fid
    doc = json.loads(path.read_text())
    assert doc["schema"] == "audioclust-curation" and doc["version"] == 1 and doc["fit"] == {"id": fid, "clips": n}
    got = downloads / "curation.json"
    end = time.time() + 10
    while not got.exists() and time.time() < end:
        time.sleep(0.1)
    assert load(got, fit=fid, n_clips=n).operations == want   # the downloaded file says the same

    # clear curation, confirmed: nothing left, nor after a reload
    click(browser, "clearcur")
    browser.switch_to.alert.accept()
    assert state(browser)["ops"] == [] and state(browser)["sizes"]["2"] == base[2]
    browser.refresh()
    _wait(browser, "return document.body.dataset.ready === 'true'")
    assert state(browser)["ops"] == [] and load(exported(browser, tmp_path), fid, n).operations == []


def test_another_fit_does_not_see_this_fits_work(browser, tmp_path):
    """localStorage is shared by every page opened from disk: each fit keeps its work under its own id."""
    page_a, fid_a, n, _, _ = make_fit(tmp_path / "a", seed=1)
    page_b, fid_b, _, _, _ = make_fit(tmp_path / "b", seed=2)
    assert fid_a != fid_b
    _open(browser, page_a)
    choose(browser, "cluster", 3)
    type_into(browser, "newname", "frog")
    click(browser, "rename")
    _open(browser, page_b)
    assert state(browser)["ops"] == [] and json.loads(browser.find_element("id", "curation").get_attribute("value"))["fit"]["id"] == fid_b
    assert browser.find_element("id", "curmsg").text == ""
    _open(browser, page_a)
    assert state(browser)["ops"] == [{"op": "rename", "cluster": 3, "name": "frog"}]
    with pytest.raises(Exception, match="made on fit"):   # and its file is refused by the other fit
        load(exported(browser, tmp_path), fit=fid_b, n_clips=n)


def test_colour_by_name_label_folder_file_time(browser, tmp_path):
    page, fid, n, drawn, clusters = make_fit(tmp_path / "fit", seed=3)
    _open(browser, page)
    d = browser.execute_script("return explorer.data")
    assert d["folders"] == ["fit/site_a", "fit/site_b"] and d["fd"] == [0, 0, 1]

    def colours(mode):
        choose(browser, "colourby", mode)
        return state(browser)["colours"]

    assert colours("cluster") == [PAL[c] for c in clusters[drawn]]
    assert colours("file") == [PAL[f] for f in d["f"]]
    assert colours("folder") == [PAL[d["fd"][f]] for f in d["f"]]
    assert colours("label") == [PAL[d["labels"].index("bird" if c < 2 else "wind")] for c in clusters[drawn]]
    t = colours("time")
    o = np.array(d["o"])
    assert t[int(o.argmin())] == "rgb(68,1,84)" and t[int(o.argmax())] == "rgb(253,231,37)" and len(set(t)) > 10
    assert "s" in browser.find_element("id", "key").text
    for c in (0, 3):   # two clusters of one name: one colour (the lower cluster's)
        choose(browser, "cluster", c)
        type_into(browser, "newname", "bird")
        click(browser, "rename")
    assert colours("name") == [PAL[0] if c in (0, 3) else PAL[c] for c in clusters[drawn]]
    assert "bird" in browser.find_element("id", "key").text
    assert colours("cluster") == [PAL[c] for c in clusters[drawn]]


def test_every_control_is_a_labelled_keyboard_control_and_works_from_the_keyboard(browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    page, fid, n, drawn, clusters = make_fit(tmp_path / "fit", seed=4)
    _open(browser, page)
    controls = browser.execute_script("""
        return Array.from(document.querySelectorAll('#curate button, #curate select, #curate input, #curate textarea, #colourby'),
          e => ({id: e.id, tag: e.tagName, labelled: e.tagName === 'BUTTON' ? e.textContent.trim().length > 0 : e.labels.length > 0,
                 focusable: (e.focus(), document.activeElement === e)}))""")
    ids = {c["id"] for c in controls}
    assert {"clearsel", "moveto", "move", "noiseclips", "labelname", "label", "cluster", "selcluster", "newname", "rename",
            "mergewith", "merge", "splitn", "split", "noisecluster", "undo", "export", "clearcur", "curation", "colourby"} <= ids
    assert all(c["labelled"] and c["focusable"] for c in controls), [c for c in controls if not (c["labelled"] and c["focusable"])]
    assert not browser.find_elements("css selector", "#curate [onclick], #curate div[tabindex]")   # no click-only divs

    # Tab reaches them all from the top of the page
    browser.find_element("tag name", "body").click()
    seen = set()
    for _ in range(300):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        seen.add(browser.execute_script("return document.activeElement.id"))
        if ids <= seen:
            break
    assert ids <= seen, ids - seen

    # a whole curation by keyboard: select a cluster's clips, label them, rename with Enter, undo with Ctrl+Z
    browser.execute_script("document.getElementById('cluster').focus()")
    ActionChains(browser).send_keys(Keys.DOWN).perform()   # cluster 1
    assert browser.find_element("id", "cluster").get_attribute("value") == "1"
    for key in (Keys.TAB, Keys.ENTER):   # "Select its clips on the map"
        ActionChains(browser).send_keys(key).perform()
    assert state(browser)["sel"] == drawn[clusters[drawn] == 1].tolist()
    browser.find_element("id", "labelname").send_keys("owl", Keys.ENTER)
    browser.find_element("id", "newname").send_keys("owls", Keys.ENTER)
    ops = state(browser)["ops"]
    assert ops == [{"op": "label", "clips": drawn[clusters[drawn] == 1].tolist(), "name": "owl"},
                   {"op": "rename", "cluster": 1, "name": "owls"}]
    browser.execute_script("document.getElementById('undo').focus()")
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert state(browser)["ops"] == ops[:1]
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    assert state(browser)["sel"] == []


def test_a_page_without_a_fit_id_keeps_and_exports_nothing(browser, tmp_path):
    """A page of an older fit (no fit_id in its metrics): the actions still show, but nothing is kept or exported,
    and the page says why."""
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(2), 10)
    data = explorer.page_data(rng.normal(size=(20, 2)), clusters, rng.random(20), [str(tmp_path / f"c{i}.wav") for i in range(20)],
                              np.zeros(20), [None] * 20, tmp_path)
    page = explorer.write_page(tmp_path, data)
    _open(browser, page)
    assert not browser.find_element("id", "export").is_enabled() and "no fit id" in browser.find_element("id", "curnote").text
    type_into(browser, "newname", "x")
    click(browser, "rename")
    assert state(browser)["ops"] == [{"op": "rename", "cluster": 0, "name": "x"}]
    browser.refresh()
    _wait(browser, "return document.body.dataset.ready === 'true'")
    assert state(browser)["ops"] == []
