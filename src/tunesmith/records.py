"""The record shapes every layer shares: a chat `Conversation` of `Message`s (what every loader
normalises to) and a `PreferenceRecord` (a prompt with chosen / rejected answers). They sit at
the bottom of the package map so that `tokenize/`, `data/` and `training/` all point down to
them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass
class PreferenceRecord:
    """A prompt (turns ending with a user turn) and one or two answers.

    Paired: `chosen` and `rejected`. Unpaired (KTO): `chosen` is the completion and
    `desirable` its label; `rejected` is None.
    """

    prompt: list[Message]
    chosen: Message
    rejected: Message | None = None
    desirable: bool | None = None
    source: str = ""
    format: str = ""

    @property
    def paired(self) -> bool:
        return self.rejected is not None


def message_dict(m: Message) -> dict[str, Any]:
    """The OpenAI-shaped message: `reasoning_content` when it has reasoning, `tool_calls`
    when it calls tools (ids kept), `tool_call_id` on a tool result that names one."""
    d: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.reasoning is not None:
        d["reasoning_content"] = m.reasoning
    if m.tool_calls:
        d["tool_calls"] = [
            {
                **({"id": c.id} if c.id is not None else {}),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in m.tool_calls
        ]
    if m.tool_call_id is not None:
        d["tool_call_id"] = m.tool_call_id
    return d
