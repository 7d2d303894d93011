"""The scripted model on disk, and one torch thread per test (shared CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from serve_helpers import build_scripted


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model dir, "great" adapter dir) of the scripted model."""
    return build_scripted(tmp_path_factory.mktemp("scripted"))
