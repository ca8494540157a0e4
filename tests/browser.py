"""Headless chromium for the browser tests: Playwright for Python (pinned in pyproject's `browser`
extra, which only scripts/test.sh installs) driving Debian's `chromium` through
`executable_path`, so no browser is downloaded. `open_browser()` starts one; `visit` loads a page
and returns its facts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

FACTS = """() => ({
    title: document.title,
    text: document.body ? document.body.innerText.length : 0,
    headings: Array.from(document.querySelectorAll('h1,h2,h3')).map(h => h.innerText),
    images: Array.from(document.images).map(i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
    links: Array.from(document.links).map(a => a.href),
    tables: document.querySelectorAll('table').length})"""


def _missing(what: str) -> None:
    if os.environ.get("CI"):  # CI runs scripts/test.sh, which installs both: missing there is a failure
        pytest.fail(f"{what} on the CI machine: scripts/test.sh should have installed it")
    pytest.skip(
        f"{what}: the browser tests need Debian's `chromium` (apt-get install -y chromium) and "
        "Playwright (pip install -e '.[browser]'); `bash scripts/test.sh` installs both"
    )


def chromium() -> str:
    """The path of the system's chromium (Playwright's own browser builds are never downloaded)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    _missing("no chromium on this machine")


@contextmanager
def open_browser() -> Iterator:
    """A headless chromium (a Playwright `Browser`), closed on exit."""
    path = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed")
    with sync_playwright() as playwright:
        # no sandbox: CI containers run as root; /dev/shm is small there
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def visit(browser, url: str) -> dict:
    """Load `url` (until its load event); return the page's facts and every URL it requested."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(url, wait_until="load")
        return {**page.evaluate(FACTS), "requests": requests}
    finally:
        page.close()
