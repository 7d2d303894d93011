"""Shared fixtures: tiny models, the shipped tokenizer, small chat datasets on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import write_jsonl
from tunesmith.demo.task import chat_dataset


@pytest.fixture(scope="session")
def chat_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """64 training and 16 validation records of the demo task, in OpenAI `messages` form."""
    root = tmp_path_factory.mktemp("chat")
    train, val = chat_dataset(64, 16, seed=123)
    return {
        "train": write_jsonl(root / "train.jsonl", train),
        "validation": write_jsonl(root / "validation.jsonl", val),
    }
