"""Shared fixtures: tiny models, the shipped tokenizer, small chat datasets on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from helpers import write_jsonl
from tunesmith.data.tag_task import chat_dataset


@pytest.fixture(scope="session")
def chat_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """64 training and 16 validation records of the demo task, in OpenAI `messages` form."""
    root = tmp_path_factory.mktemp("chat")
    train, val = chat_dataset(64, 16, seed=123)
    return {
        "train": write_jsonl(root / "train.jsonl", train),
        "validation": write_jsonl(root / "validation.jsonl", val),
    }


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread for the test: exact, repeatable CPU numerics and no
    oversubscription on a shared machine (autouse in tests/unit/inference and serve)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
