"""The leaderboard pages in a real browser: the system's headless Chromium, driven by selenium.

Selenium is pointed at /usr/bin/chromedriver so Selenium Manager never downloads a browser or a
driver. Without Chromium the tests skip, unless HARNESS_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks.leaderboard_build import generate
from harness.report.leaderboard import build_leaderboard
from tests.leaderboard_support import build_gsm8k_runs

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
REQUIRE_ENV = "HARNESS_REQUIRE_BROWSER"
SPEC = """\
name: browser-test
title: Browser test
columns:
  - {id: strict, label: GSM8K strict, task: gsm8k, metric: "exact_match[strict-match]"}
  - {id: crux, label: CRUXEval-X, task: cruxeval-x, metric: "pass@1[answer]", aggregate: subset_mean}
sort: {column: strict, order: ascending}
views:
  - {type: heatmap, column: crux, subset_name: "{language}.{subtask}", x: language, panels: subtask}
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        message = f"{' and '.join(missing)} not installed; run scripts/install-browser (Debian chromium, chromium-driver)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1400"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GSM8K oracle and replay runs plus three small synthetic CRUXEval-X runs (19 languages)."""
    root = tmp_path_factory.mktemp("browser-site")
    build_gsm8k_runs(root / "gsm8k")
    generate(root / "crux", runs=3, samples=380)
    (root / "board.yaml").write_text(SPEC)
    build_leaderboard(root / "board.yaml", [root / "gsm8k" / "runs", root / "crux"], root / "site")
    return root / "site"


def column_values(browser: Any, index: int) -> list[str]:
    rows = browser.find_elements("css selector", "#leaderboard tbody tr")
    return [row.find_elements("css selector", "td")[index].get_attribute("data-value") for row in rows]


def numeric_order(values: list[str], descending: bool) -> list[str]:
    present = sorted((value for value in values if value), key=float, reverse=descending)
    return present + [value for value in values if not value]


def test_header_click_sorts_the_table(driver: Any, site: Path, tmp_path: Path) -> None:
    driver.get((site / "index.html").as_uri())
    before = column_values(driver, 2)
    assert before == numeric_order(before, descending=False) and len(set(before)) >= 3
    driver.find_element("css selector", "th[data-column=strict] button").click()
    after = column_values(driver, 2)
    assert after != before and after == numeric_order(before, descending=True)
    driver.find_element("css selector", "th[data-column=crux] button").click()
    crux = column_values(driver, 3)
    assert crux == numeric_order(crux, descending=True) and crux[-1] == ""  # n/a (GSM8K-only models) last
    assert len(driver.find_elements("css selector", "table.heatmap")) == 2
    assert len(driver.find_elements("css selector", "svg rect.bar")) >= 6
    screenshot = tmp_path / "index.png"
    assert driver.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000


def visible_samples(browser: Any) -> list[Any]:
    return [item for item in browser.find_elements("css selector", "li.sample") if item.is_displayed()]


def test_cell_link_opens_run_page_with_failures_filter(driver: Any, site: Path, tmp_path: Path) -> None:
    driver.get((site / "index.html").as_uri())
    [row] = [row for row in driver.find_elements("css selector", "#leaderboard tbody tr")
             if "replay-b" in row.get_attribute("data-key")]
    row.find_elements("css selector", "td")[2].find_element("css selector", "a").click()
    assert "/runs/" in driver.current_url
    everything = visible_samples(driver)
    assert len(everything) == 10 and driver.find_element("id", "shown-count").text == "10"
    driver.find_element("id", "failures-only").click()
    failures = visible_samples(driver)
    assert 0 < len(failures) < len(everything)
    assert all(item.get_attribute("data-failed") == "1" for item in failures)
    assert {item.find_element("css selector", ".verdict").text for item in failures} == {"fail", "unscored"}
    screenshot = tmp_path / "run.png"
    assert driver.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 20_000


def test_heatmap_cell_opens_run_page_on_its_subset(driver: Any, site: Path) -> None:
    driver.get((site / "index.html").as_uri())
    link = driver.find_element("css selector", "table.heatmap td a")
    subset = link.get_attribute("href").split("#subset=")[1]
    link.click()
    shown = visible_samples(driver)
    assert shown and {item.get_attribute("data-subset") for item in shown} == {subset}
    assert "showing" in driver.find_element("id", "cap-note").text.lower()
