"""The scripted model on disk, and one torch thread per test (shared CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import build_scripted


@pytest.fixture(autouse=True)
def _one_thread_each(one_thread: None) -> None:
    """Every test here runs under tests/conftest.py's `one_thread`."""


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model dir, "great" adapter dir) of the scripted model."""
    return build_scripted(tmp_path_factory.mktemp("scripted"))
