"""Where the browser tests find Chromium: TUNESMITH_CHROMIUM, else Debian's `chromium`."""

from __future__ import annotations

import os
import shutil

CHROMIUM = (
    os.environ.get("TUNESMITH_CHROMIUM")
    or shutil.which("chromium")
    or shutil.which("chromium-browser")
)
