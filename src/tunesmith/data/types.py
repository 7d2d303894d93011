"""The one record shape every loader normalises to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass
class Message:
    """One turn. For assistant turns, `reasoning` holds the text of a <think>…</think> block."""

    role: Role
    content: str
    reasoning: str | None = None


@dataclass
class Conversation:
    """A chat sample (`messages`) or, for continued pretraining, a plain `text` sample.

    `source` is "file:line" (1-based line for jsonl/csv, record index + 1 for json/parquet).
    """

    messages: list[Message] = field(default_factory=list)
    text: str | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return self.text is not None
