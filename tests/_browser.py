"""Headless Chromium for the tests that look at pages as a person would: Debian's browser,
driven by Playwright, started with no network of its own (see docs/guides/threat-model.md).
A test that needs it skips, saying why, when Playwright or the browser is missing."""

from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

#: Flags for a root user in a container with no network: without the background-networking
#: ones Chromium tries to reach its services at start-up.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def browser_page(width=1100, height=900):
    """A new page of a headless Chromium, with ``page.outside`` (requests) and
    ``page.errors`` (console errors) recorded; skips the test when there is no browser."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (the test extra brings it)"
    )
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine (make test installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.requests, page.errors = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        try:
            yield page
        finally:
            browser.close()


def outside_requests(page) -> list:
    """The requests of ``page`` that left the machine (anything but file: and data:)."""
    return [url for url in page.requests if not url.startswith(("file:", "data:"))]
