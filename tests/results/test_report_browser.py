"""The report in a real browser: headless Chromium renders every plot, with no console error.

Needs Debian's ``chromium`` and ``chromium-driver`` (.ci/run installs them) and selenium
(the ``test`` extra). Without Chromium the test is skipped, except in CI (``CI`` set), where
it fails. The page and a full-page screenshot are kept in ``studies/test-artifacts/``
(or ``$HPO_TEST_ARTIFACTS``) and their paths printed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.results.conftest import REPO, STUDY, run_hpo

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1000",
]
MAX_SCREENSHOT_HEIGHT = 30000


def _find(*names: str) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


def _browser_or_skip() -> tuple[str, str]:
    chromium = _find("chromium", "chromium-browser")
    driver = _find("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        driver = None
    if chromium and driver:
        return chromium, driver
    reason = "chromium, chromium-driver (apt) and selenium (pip install -e '.[test]') are needed for the browser test"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {reason}: .ci/run installs them")
    pytest.skip(reason)


def artifacts_dir() -> Path:
    path = Path(os.environ.get("HPO_TEST_ARTIFACTS", REPO / "studies" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.slow
def test_report_renders_in_headless_chromium(retrained, tmp_path):
    chromium, chromedriver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    made = run_hpo(["report", STUDY, "-o", "report.html"], retrained.run.workdir)
    assert made.returncode == 0, made.stderr
    page = retrained.run.workdir / "report.html"
    assert "Retrained: best-final" in page.read_text()

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        driver.set_page_load_timeout(120)
        driver.get(page.resolve().as_uri())
        plots = driver.execute_script(
            "return Array.from(document.querySelectorAll('.plotly-graph-div'))"
            ".map(div => [div.id, div.querySelectorAll('.main-svg').length])"
        )
        sections = driver.execute_script(
            "return Object.fromEntries(Array.from(document.querySelectorAll('section')).map(s => [s.querySelector('h2').textContent, "
            "{text: s.innerText, titles: Array.from(s.querySelectorAll('.gtitle')).map(t => t.textContent), "
            "legend: Array.from(s.querySelectorAll('.legendtext')).map(t => t.textContent)}]))"
        )
        pictures = driver.execute_script(  # per grid of images: whether each one decoded and drew
            "return ['table.gallery img', 'div.misclassified img']"
            ".map(css => Array.from(document.querySelectorAll(css)).map(img => img.complete && img.naturalWidth > 0))"
        )
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name).filter(n => !n.startsWith('data:'))"
        )
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1300, min(height, MAX_SCREENSHOT_HEIGHT))
        shot = artifacts_dir() / "report.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    shutil.copy(page, artifacts_dir() / "report.html")
    print(f"\nreport screenshot: {shot}\nreport page: {artifacts_dir() / 'report.html'}")

    assert errors == []
    assert fetched == []  # nothing loaded from the network: the page works offline
    # history, curves, parallel coordinates, importances, slices, timeline, per class, confusion, t-SNE
    assert len(plots) >= 10, plots
    assert [div for div, svgs in plots if svgs == 0] == []  # every plot drew its SVG
    gallery, misclassified = pictures  # the training images as trials saw them; the retrained model's mistakes
    assert len(gallery) >= 8 and all(gallery), gallery
    assert len(misclassified) >= 1 and all(misclassified), misclassified
    assert shot.stat().st_size > 50_000
    # the cost, and the trials compared at one epoch, pruned ones included, drawn by state
    assert re.search(r"pruning saved\s+\d+ epochs \(\d+%\)", sections["Cost"]["text"]), sections["Cost"]
    assert "CPU hours" in sections["Cost"]["text"]
    shared = r"val_acc at epoch \d+, \d+ trials \(\d+ complete, \d+ pruned\)"
    assert [t for t in sections["Parallel coordinates"]["titles"] if re.fullmatch(f"{shared}, one line per trial", t)], sections
    assert (
        {"complete", "complete: final val_acc"}
        <= set(sections["Parallel coordinates"]["legend"])
        <= {"complete", "pruned", "complete: final val_acc"}
    )
    assert re.search(
        r"Importances at epoch \d+|need at least 4 trials at one epoch; .*\(epoch \d+\)", sections["Hyperparameter importances"]["text"]
    )
    slices = sections["Slices"]["titles"]
    assert len(slices) >= 4 and all(re.search(shared, t) for t in slices), slices
