"""A real headless Chromium (Debian's ``chromium``, driven by Playwright through its executable path: Playwright's own
browser download is not used). ``.ci/run`` sets ``BITRIX_INFLOW_REQUIRE_BROWSER=1``, so there a missing browser fails
the tests instead of skipping them. Each test keeps a screenshot of every page it saw under
``var/test-artifacts/screenshots``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).parents[3] / "var" / "test-artifacts" / "screenshots"


def required() -> bool:
    return os.environ.get("BITRIX_INFLOW_REQUIRE_BROWSER", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        if required():
            pytest.fail(
                f"BITRIX_INFLOW_REQUIRE_BROWSER is set but {CHROMIUM} is missing (apt-get install chromium)"
            )
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only where a browser runs

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Numbered screenshots of one test's pages: ``<test>/01-sign-in.png``…"""

    def __init__(self, test_name: str) -> None:
        self.folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", test_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def take(self, page: object, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)
