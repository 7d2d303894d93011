"""The one record shape every loader normalises to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """One function call an assistant turn makes; `arguments` is a JSON object as text."""

    name: str
    arguments: str
    id: str | None = None


@dataclass
class Message:
    """One turn. For assistant turns, `reasoning` holds the text of a <think>…</think> block
    and `tool_calls` the functions it calls; a `tool` turn's content is one call's result."""

    role: Role
    content: str
    reasoning: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


@dataclass
class Conversation:
    """A chat sample (`messages`) or, for continued pretraining, a plain `text` sample.

    `source` is "file:line" (1-based line for jsonl/csv, record index + 1 for json/parquet).
    `tools` holds the function definitions the sample offers, OpenAI-shaped
    (`{"type": "function", "function": {"name", "description"?, "parameters"?}}`).
    """

    messages: list[Message] = field(default_factory=list)
    text: str | None = None
    source: str = ""
    meta: dict = field(default_factory=dict)
    tools: list[dict] | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None
