"""The record-size guard every reader applies (training, evaluation, `data prepare`).

A record whose turns hold more than `limit` characters in all is bad input (reason
`too_large`), checked right after the record is parsed and before anything tokenizes it: one
50 MB record would otherwise drive tokenization and packing to gigabytes of memory. The
message names the file and line (added by the loader), the record's largest field, its size
and the limit with the key that sets it:

    raw.jsonl:3: field 'output': record has 1,200,000 characters (expected at most
    1,000,000 characters per record; data.max_record_chars sets it)
"""

from __future__ import annotations

from typing import Any

from tunesmith.data.validate import Invalid
from tunesmith.records import Conversation

MAX_RECORD_CHARS = 1_000_000
"""Default limit of `data.max_record_chars` (training) and `input.max_record_chars` (prepare)."""


def record_chars(conv: Conversation) -> int:
    """Characters of every turn (reasoning included), or of the plain text."""
    if conv.is_text:
        return len(conv.text or "")
    return sum(len(m.content) + len(m.reasoning or "") for m in conv.messages)


def check_record_size(data: Any, conv: Conversation, limit: int, key: str | None) -> None:
    """Raise `Invalid("too_large")` when `conv` holds more than `limit` characters; `key` is
    the setting named in the message (e.g. "data.max_record_chars"), None where none sets it."""
    size = record_chars(conv)
    if size <= limit:
        return
    biggest = max(data, key=lambda k: len(str(data[k]))) if isinstance(data, dict) else None
    raise Invalid(
        "too_large",
        f"record has {size:,} characters",
        field=biggest,
        expected=f"at most {limit:,} characters per record" + (f"; {key} sets it" if key else ""),
    )
