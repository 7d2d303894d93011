"""One torch thread per engine test: exact, repeatable numerics on a shared CPU."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread_each(one_thread: None) -> None:
    """Every test here runs under tests/conftest.py's `one_thread`."""
