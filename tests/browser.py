"""Debian's headless Chromium driven by playwright (no browser download), with no network but the servers
under test: every request to a host other than 127.0.0.1 is aborted and recorded, and so is every host."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from tests.live import LiveServer

CHROMIUM = os.environ.get("MLREGISTRY_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 30_000


@pytest.fixture
def browser(server: LiveServer) -> Iterator[object]:
    # Per test, after the server: playwright's sync API runs an event loop while it is open, and the
    # session-scoped server fixtures (created on first use) need to run their own.
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"chromium is not installed at {CHROMIUM}")
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


class OfflinePage:
    """A page whose only network is the server under test (and other local servers, e.g. S3 on 127.0.0.1)."""

    def __init__(self, browser: object, server: LiveServer, **context: object) -> None:
        self.context = browser.new_context(base_url=server.url, **context)  # type: ignore[attr-defined]
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.outside: list[str] = []
        self.hosts: set[str] = set()  # the host of every http(s) request the page made
        self.context.route("**/*", self._route)

    def _route(self, route: object) -> None:
        url: str = route.request.url  # type: ignore[attr-defined]
        if url.startswith(("http:", "https:")):
            self.hosts.add(urlparse(url).hostname or "")
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()  # type: ignore[attr-defined]
        else:
            self.outside.append(url)
            route.abort()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def offline_page(browser: object, server: LiveServer) -> Iterator[OfflinePage]:
    page = OfflinePage(browser, server)
    try:
        yield page
    finally:
        page.close()
