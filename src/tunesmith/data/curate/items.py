"""The record a pipeline step sees (`Item`), its text views, and its two on-disk forms.

An `Item` is a validated `Conversation` plus what curation needs around it: `root`, the
position of the input record it comes from (augmented copies share their parent's, so a split
keeps a record and its copies together), the record's extra top-level fields (`label`, `id`, ...
everything outside its format's own keys) and its `origin` (input, template, synonym,
paraphrase, back_translation, oversample).

Output records are OpenAI `messages` (or `{"text": ...}` for plain-text samples) plus the extra
fields and `"tunesmith": {"source": "file:line", "origin": ...}`, so `load_conversations`
(and so `tunesmith train`) reads them as they are. Spill records, written between passes, keep
every field needed to rebuild the Item exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tunesmith.records import Conversation, Message, ToolCall, message_dict

FORMAT_KEYS = frozenset(
    {
        "messages",
        "conversations",
        "system",
        "instruction",
        "input",
        "output",
        "context",
        "question",
        "answer",
        "text",
        "tunesmith",
    }
)
"""Top-level keys that belong to a record format (or to our provenance), never extras."""

_SPACES = re.compile(r"\s+")


@dataclass
class Item:
    conv: Conversation
    root: int
    extras: dict[str, Any] = field(default_factory=dict)
    origin: str = "input"
    split: str = "train"

    @property
    def source(self) -> str:
        return self.conv.source

    def label(self, name: str) -> Any:
        """The extra field `name`, or None when the record has none."""
        return self.extras.get(name)


def extras_of(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        return {}
    return {k: v for k, v in record.items() if k not in FORMAT_KEYS}


def segments(conv: Conversation) -> list[tuple[str, str]]:
    """(role, text) pieces of a record: 'text' for plain text, 'reasoning' for think blocks."""
    if conv.is_text:
        return [("text", conv.text or "")]
    out = []
    for m in conv.messages:
        if m.reasoning:
            out.append(("reasoning", m.reasoning))
        out.append((m.role, m.content))
    return out


def full_text(conv: Conversation) -> str:
    """Every turn's text (reasoning included), joined by blank lines."""
    return "\n\n".join(text for _, text in segments(conv))


def content_text(conv: Conversation) -> str:
    """`full_text` without system turns: what near dedupe and decontamination compare, so a
    long system prompt shared by many records does not make them look alike."""
    return "\n\n".join(text for role, text in segments(conv) if role != "system")


def exact_key(conv: Conversation, lowercase: bool) -> str:
    """The text exact dedupe compares: roles kept, whitespace runs as one space."""
    parts = [f"{role}\x1e{_SPACES.sub(' ', text).strip()}" for role, text in segments(conv)]
    key = "\x1f".join(parts)
    return key.lower() if lowercase else key


def copy_message(m: Message) -> Message:
    calls = list(m.tool_calls) if m.tool_calls else None
    return Message(m.role, m.content, m.reasoning, calls, m.tool_call_id)


def _spill_message(m: Message) -> list:
    out: list = [m.role, m.content, m.reasoning]
    if m.tool_calls or m.tool_call_id is not None:
        calls = [[c.name, c.arguments, c.id] for c in m.tool_calls or []]
        out += [calls, m.tool_call_id]
    return out


def _unspill_message(m: list) -> Message:
    if len(m) == 3:
        return Message(*m)
    calls = [ToolCall(*c) for c in m[3]] or None
    return Message(m[0], m[1], m[2], calls, m[4])


def to_output(item: Item) -> dict[str, Any]:
    """The record as written to train / validation / test files."""
    body: dict[str, Any]
    if item.conv.is_text:
        body = {"text": item.conv.text}
    else:
        body = {"messages": [message_dict(m) for m in item.conv.messages]}
    return {**body, **item.extras, "tunesmith": {"source": item.source, "origin": item.origin}}


def to_spill(item: Item) -> str:
    conv = item.conv
    record = {
        "r": item.root,
        "s": conv.source,
        "o": item.origin,
        "x": item.extras,
        "f": conv.meta.get("format"),
    }
    if conv.is_text:
        record["t"] = conv.text
    else:
        record["m"] = [_spill_message(m) for m in conv.messages]
        if conv.tools:
            record["tl"] = conv.tools
    if item.split != "train":
        record["p"] = item.split
    return json.dumps(record, ensure_ascii=False, default=str)


def from_spill(line: str) -> Item:
    r = json.loads(line)
    if "t" in r:
        conv = Conversation(text=r["t"], source=r["s"])
    else:
        messages = [_unspill_message(m) for m in r["m"]]
        conv = Conversation(messages=messages, source=r["s"], tools=r.get("tl"))
    if r.get("f"):
        conv.meta["format"] = r["f"]
    return Item(conv, r["r"], r["x"], r["o"], r.get("p", "train"))


def clone(item: Item, origin: str, conv: Conversation | None = None) -> Item:
    """A new record derived from `item` (same root, extras and source), tagged with `origin`."""
    if conv is None:
        conv = Conversation(
            messages=[copy_message(m) for m in item.conv.messages],
            text=item.conv.text,
            source=item.source,
            meta=dict(item.conv.meta),
            tools=item.conv.tools,
        )
    return Item(conv, item.root, dict(item.extras), origin, item.split)
