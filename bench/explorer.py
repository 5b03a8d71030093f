"""explorer.html load and redraw time in headless Chromium for growing numbers of clips (synthetic data).

    python bench/explorer.py [--sizes 1000 3000 10000 30000]
Needs /usr/bin/chromium and /usr/bin/chromedriver (make sysdeps-browser) and selenium. Prints a table.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audioclust.report import explorer  # noqa: E402

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
         "--window-size=1300,1000")


def browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))


def page(n: int, k: int, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, k, n)
    xy = rng.normal(size=(k, 2))[clusters] * 5 + rng.normal(size=(n, 2))
    dists = rng.random(n)
    paths = [str(folder / "clips" / f"c{c}" / f"clip_{i:06d}.wav") for i, c in enumerate(clusters)]
    data = explorer.page_data(xy, clusters, dists, paths, np.zeros(n), [f"c{c}" for c in clusters], folder,
                              picks=explorer.pick_extremes(dists, clusters, 6, 3), scores={"acc": 1.0})
    return explorer.write_page(folder / str(n), data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000])
    ap.add_argument("--k", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        driver = browser(f"{tmp}/profile")
        try:
            print("| clips | page KiB | ready after navigation (ms) | open, wall (s) | one redraw (ms) |")
            print("|---|---|---|---|---|")
            for n in args.sizes:
                path = page(n, args.k, Path(tmp))
                t0 = time.perf_counter()
                driver.get(path.resolve().as_uri())
                while not driver.execute_script("return document.body && document.body.dataset.ready === 'true'"):
                    time.sleep(0.02)
                wall = time.perf_counter() - t0
                ready, drawn = driver.execute_script("return [explorer.readyMs, explorer.pointsDrawn]")
                assert drawn == n, (drawn, n)
                redraw = driver.execute_script(
                    "const t = performance.now(); for (let j = 0; j < 10; j++) window.dispatchEvent(new Event('resize'));"
                    "return (performance.now() - t) / 10")
                print(f"| {n} | {path.stat().st_size // 1024} | {ready:.0f} | {wall:.2f} | {redraw:.1f} |")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
