"""The review loop in explorer.html (docs/curation.md, "In the explorer"): audioclust-curate's review_next.csv (or
predictions.csv) loaded into the fit's page from disk, its clips listed, played, accepted or selected (on the map or
not) and labelled, exported, and applied again by audioclust-curate: the labelled rows come back named. A fit
written by audioclust.write_outputs, the page made from its assignments.csv; Chromium through Selenium, as
tests/report/test_explorer_curation.py (whose skips apply here too)."""
import json
import os

import numpy as np
import pytest
import test_explorer_curation
from common_utils import blob_clips, csv_rows, run_script
from test_explorer_browser import _open, _wait, pytestmark  # noqa: F401 (pytestmark)
from test_explorer_curation import choose, click, exported, state, type_into

import audioclust
from audioclust.curate.schema import load
from audioclust.report import explorer
from audioclust.report.outputs import fit_id

KINDS = ("owl", "wind", "rain")
browser, downloads = test_explorer_curation.browser, test_explorer_curation.downloads   # its Chromium fixtures
CLI = ("-c", "from audioclust.cli import curate; curate()")


def _curate(fit_dir, curation, out, review=8):
    p = run_script(*CLI, f"fit_dir={fit_dir}", f"curation={curation}", f"review={review}", f"hydra.run.dir={out}")
    assert p.returncode == 0, p.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def fit(tmp_path_factory):
    """30 one-second files, 10 of each kind (the rain files' names hold a comma), three blobs clustered (k=3); the
    page made from assignments.csv with the even rows drawn; then the owl and wind clusters named and applied, so
    the probe lists rain clips to review. Returns (fit folder, page, fit id, clusters, renames, curated folder)."""
    root = tmp_path_factory.mktemp("review")
    rng = np.random.default_rng(0)
    emb = blob_clips(root, KINDS, rng, name=lambda kind, i: f"{kind}, take {i}.wav" if kind == "rain" else f"{kind}_{i}.wav")
    fit_dir = audioclust.write_outputs(audioclust.cluster(emb, k=3, gpu=False), emb, root / "fit")
    rows = csv_rows(fit_dir / "assignments.csv")
    c = np.array([int(r["cluster"]) for r in rows])
    fid = fit_id(fit_dir / "assignments.csv")
    drawn = np.arange(0, 30, 2)
    xy = np.c_[c[drawn] * 10.0, np.zeros(len(drawn))] + rng.normal(size=(len(drawn), 2))
    data = explorer.page_data(xy, c, [float(r["distance"]) for r in rows], [r["path"] for r in rows],
                              [float(r["offset"]) for r in rows], [r["label"] for r in rows], fit_dir, drawn=drawn,
                              scores={"fit_id": fid}, clip_seconds=1.0)
    page = explorer.write_page(fit_dir, data)
    of = {kind: int(np.bincount(c[10 * k: 10 * k + 10]).argmax()) for k, kind in enumerate(KINDS)}
    assert len(set(of.values())) == 3
    renames = [{"op": "rename", "cluster": of["owl"], "name": "owl"}, {"op": "rename", "cluster": of["wind"], "name": "wind"}]
    doc = {"schema": "audioclust-curation", "version": 1, "fit": {"id": fid, "clips": 30}, "operations": renames}
    (root / "first.json").write_text(json.dumps(doc))
    curated = _curate(fit_dir, root / "first.json", root / "curated")
    return fit_dir, page, fid, c, renames, curated


def _fresh(driver, page):
    """The page with nothing kept for its fit (the module's tests share one browser profile)."""
    _open(driver, page)
    driver.execute_script("localStorage.clear()")
    driver.refresh()
    _wait(driver, "return document.body.dataset.ready === 'true'")


def _load(driver, csv_path, n_listed):
    driver.find_element("id", "reviewfile").send_keys(str(csv_path))
    _wait(driver, f"return document.querySelectorAll('#reviewlist .hit').length === {n_listed}")
    return _listed(driver)


def _listed(driver):
    return driver.execute_script("""return Array.from(document.querySelectorAll('#reviewlist .hit'), h => ({
        row: Number(h.dataset.row), note: h.querySelector('.now').textContent.trim(),
        text: Array.from(h.childNodes, e => e.nodeType === 3 ? e.textContent : '').join('').trim(),
        play: !h.querySelector('button.play').disabled, pick: !h.querySelector('button.pick').disabled,
        accept: !h.querySelector('button.accept').disabled}))""")


def _button(driver, row, kind):
    return driver.find_element("css selector", f"#reviewlist .hit[data-row='{row}'] button.{kind}")


def test_review_next_is_listed_labelled_exported_and_applied(browser, fit, tmp_path):
    fit_dir, page, fid, c, renames, curated = fit
    _fresh(browser, page)
    for op in renames:   # the work the first curation.json came from, kept in this browser
        choose(browser, "cluster", op["cluster"])
        type_into(browser, "newname", op["name"])
        click(browser, "rename")
    text = (curated / "review_next.csv").read_text()
    review = csv_rows(curated / "review_next.csv")
    rows = [int(r["row"]) for r in review]
    assert len(rows) == 8 and all(r >= 20 for r in rows) and '"' + str(fit_dir.parent / "clips" / "rain" / "rain, take") in text
    drawn, off = [r for r in rows if r % 2 == 0], [r for r in rows if r % 2]
    assert len(drawn) >= 2 and len(off) >= 2   # clips on the map and off it

    listed = _load(browser, curated / "review_next.csv", 8)
    assert [v["row"] for v in listed] == rows   # in the file's order: least sure first
    for k, (v, r) in enumerate(zip(listed, review)):
        assert v["text"].startswith(f"{k + 1}. {os.path.basename(r['path'])}: predicted \"{r['predicted']}\" (p {float(r['probability']):.2f}")
        assert v["play"] and v["pick"] and v["accept"] and v["note"] == ""
    assert browser.find_element("id", "curmsg").text == "review_next.csv: 8 clips listed"

    _button(browser, off[0], "play").click()   # a clip off the map plays from its own file
    src = browser.execute_script("return decodeURIComponent(explorer.audio.src)")
    assert src.endswith(f"clips/rain/rain, take {off[0] - 20}.wav")

    first = rows[0]
    _button(browser, first, "accept").click()
    predicted = review[0]["predicted"]
    assert state(browser)["ops"][-1] == {"op": "label", "clips": [first], "name": predicted}
    assert browser.find_element("css selector", f"#reviewlist .hit[data-row='{first}'] .now").text == f'\u2014 labelled "{predicted}"'

    a, b = next(r for r in drawn if r != first), next(r for r in off if r != first)
    _button(browser, a, "pick").click()
    _button(browser, b, "pick").click()
    s = state(browser)
    assert s["sel"] == sorted([a, b]) and s["count"] == "2 clips selected"
    assert _button(browser, b, "pick").get_attribute("aria-pressed") == "true"
    choose(browser, "moveto", renames[0]["cluster"])
    click(browser, "move")   # the page cannot show where a clip off the map goes: refused
    assert len(state(browser)["ops"]) == 3 and "not on the map" in browser.find_element("id", "curmsg").text
    type_into(browser, "labelname", "rain")
    click(browser, "label")
    assert state(browser)["ops"][-1] == {"op": "label", "clips": sorted([a, b]), "name": "rain"}
    notes = {v["row"]: v["note"] for v in _listed(browser)}   # the list shows the progress
    assert notes == {r: ('\u2014 labelled "rain"' if r in (a, b) else f'\u2014 labelled "{predicted}"' if r == first else "") for r in rows}

    click(browser, "clearsel")
    click(browser, "reviewall")
    assert state(browser)["sel"] == sorted(rows)
    click(browser, "clearsel")
    assert state(browser)["sel"] == [] and _button(browser, b, "pick").get_attribute("aria-pressed") == "false"

    want = renames + [{"op": "label", "clips": [first], "name": predicted}, {"op": "label", "clips": sorted([a, b]), "name": "rain"}]
    path = exported(browser, tmp_path)
    assert load(path, fit=fid, n_clips=30).operations == want

    again = _curate(fit_dir, path, tmp_path / "curated2")   # the reviewed rows come back named
    named = {i: r["name"] for i, r in enumerate(csv_rows(again / "assignments.csv"))}
    assert named[first] == predicted and named[a] == named[b] == "rain"
    assert all(named[i] == "" for i in range(20, 30) if i not in (first, a, b) and c[i] not in (renames[0]["cluster"], renames[1]["cluster"]))
    assert {first, a, b}.isdisjoint(int(r["row"]) for r in csv_rows(again / "review_next.csv"))


def test_predictions_csv_foreign_rows_and_the_keyboard(browser, fit, tmp_path):
    from selenium.webdriver.common.keys import Keys

    fit_dir, page, fid, c, renames, curated = fit
    _fresh(browser, page)
    pred = csv_rows(curated / "predictions.csv")
    unnamed = sorted((r for r in pred if r["name"] == ""), key=lambda r: float(r["margin"]))   # stable, as the page's sort
    listed = _load(browser, curated / "predictions.csv", len(unnamed))
    assert 0 < len(unnamed) < 30 and [v["row"] for v in listed] == [int(r["row"]) for r in unnamed]

    # a hand-made list (CRLF, quotes in quotes): one good row, a file this page lacks, a row that is another clip
    good, rain = unnamed[0], next(r for r in pred if "rain, take" in r["path"])
    lines = ["row,path,offset,cluster,name,predicted,probability,margin",
             ",".join([good["row"], f'"{good["path"]}"', good["offset"], good["cluster"], "", good["predicted"], "0.5", "0.1"]),
             '3,"/elsewhere/a, ""b"".wav",0.0,0,,owl,0.6,0.2',
             ",".join(["0", f'"{rain["path"]}"', "0.0", "0", "", "owl", "0.7", "0.3"])]   # row 0 is an owl clip
    (tmp_path / "mine.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())
    v = _load(browser, tmp_path / "mine.csv", 3)
    assert [x["row"] for x in v] == [int(good["row"]), 3, 0]
    assert v[0]["play"] and v[0]["pick"] and v[0]["accept"] and v[0]["note"] == ""
    assert v[1]["text"].startswith('2. a, "b".wav: predicted "owl"') and not (v[1]["play"] or v[1]["pick"] or v[1]["accept"])
    assert v[1]["note"] == "\u2014 its file is not in this page"
    assert v[2]["play"] and not (v[2]["pick"] or v[2]["accept"]) and "another fit" in v[2]["note"]
    msg = browser.find_element("id", "curmsg")
    assert msg.text == "mine.csv: 3 clips listed; 2 not found in this page (they cannot be played or labelled)" and "bad" in msg.get_attribute("class")

    # every control of the panel is labelled and reachable: the file field, Select all listed, each row's buttons
    controls = browser.execute_script("""
        return Array.from(document.querySelectorAll('#reviewbox button:not([disabled]), #reviewbox input'),
          e => ({labelled: e.tagName === 'BUTTON' ? e.textContent.trim().length > 0 : e.labels.length > 0,
                 focusable: (e.focus(), document.activeElement === e)}))""")
    assert len(controls) == 2 + 3 + 1 and all(x["labelled"] and x["focusable"] for x in controls)
    _button(browser, good["row"], "accept").send_keys(Keys.ENTER)   # accepted from the keyboard
    assert state(browser)["ops"] == [{"op": "label", "clips": [int(good["row"])], "name": good["predicted"]}]

    (tmp_path / "other.csv").write_text("path,cluster\nx.wav,1\n")
    browser.find_element("id", "reviewfile").send_keys(str(tmp_path / "other.csv"))
    _wait(browser, "return document.querySelectorAll('#reviewlist .hit').length === 0")
    assert msg.text == "other.csv: not a review_next.csv or predictions.csv (no column row, offset, name, predicted, probability, margin)"


def test_a_list_made_on_another_fit_is_refused(browser, fit, tmp_path):
    """review_next.csv names its fit (the `fit` column): a list of another fit's rows would label other clips."""
    fit_dir, page, fid, c, renames, curated = fit
    _fresh(browser, page)
    rows = csv_rows(curated / "review_next.csv")
    assert rows and {r["fit"] for r in rows} == {fid}
    text = (curated / "review_next.csv").read_text().replace(f",{fid}\n", ",0123456789abcdef\n")
    (tmp_path / "other_fit.csv").write_text(text)
    browser.find_element("id", "reviewfile").send_keys(str(tmp_path / "other_fit.csv"))
    msg = browser.find_element("id", "curmsg")
    _wait(browser, "return document.getElementById('curmsg').textContent.includes('made on fit')")
    assert msg.text == (f"other_fit.csv: made on fit 0123456789abcdef, not on this page's fit {fid}: "
                        "load the list of a curated fit of this fit")
    assert browser.execute_script("return document.querySelectorAll('#reviewlist .hit').length") == 0
