"""Browser tests drive Debian's Chromium (Playwright cannot download browsers here);
`.ci/run` installs it. Without it the browser tests skip with one line saying so.

Playwright's sync API keeps an asyncio loop marked as running on this thread while it is
started. pytest-playwright starts it once per session, which breaks every later test that
calls `asyncio.run()` (the engine and server tests). So this module's fixtures start it per
browser-test module and stop it at the module's end; `page` is a fresh context each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ui_chromium import CHROMIUM


@pytest.fixture(scope="module")
def ui_browser() -> Iterator[object]:
    if not CHROMIUM:
        pytest.skip("no Chromium found (apt-get install chromium, or set TUNESMITH_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
    finally:
        pw.stop()


@pytest.fixture
def page(ui_browser) -> Iterator[object]:  # noqa: ANN001
    context = ui_browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
