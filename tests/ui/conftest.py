"""Browser tests drive Debian's Chromium (Playwright cannot download browsers here);
`.ci/run` installs it. Without it the browser tests skip with one line saying so."""

from __future__ import annotations

import pytest
from ui_chromium import CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments, pointed at the system Chromium."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}
