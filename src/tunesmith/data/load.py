"""Load dataset files into validated `Conversation`s, raising on or filing bad records.

    result = load_conversations(["train.jsonl"], on_error="skip", rejects_path=Path("rej.jsonl"))
    assert result.records_in == len(result.conversations) + result.rejected

File types are described in `sources`, formats and auto-detection in `formats`, the
conversation rules in `validate`. Counting rules: every record read counts in `records_in`
(blank jsonl / csv lines are not records); each is either kept or rejected with a reason.
Whole-file problems (missing file, unknown extension, unparseable .json / parquet) raise
`DataError` even with on_error="skip", since they have no records to count.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Generic, TypeVar

from tunesmith.data.formats import FORMATS, convert
from tunesmith.data.limits import MAX_RECORD_CHARS, check_record_size
from tunesmith.data.sources import RawRecord, expand_paths, iter_records
from tunesmith.data.validate import Invalid
from tunesmith.errors import ConfigError, DataError
from tunesmith.records import Conversation, Message

ON_ERROR = ("raise", "skip")
T = TypeVar("T")
SIZE_KEY = "data.max_record_chars"


@dataclass
class LoadResult:
    """Kept conversations plus counts: records_in == len(conversations) + rejected."""

    conversations: list[Conversation] = field(default_factory=list)
    records_in: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    """Format name -> number of kept conversations read in that format."""


@dataclass
class Checked(Generic[T]):
    """Kept records (preference pairs, RL prompts) plus counts: records_in ==
    len(records) + rejected; formats: format name -> kept records read in it."""

    records: list[T] = field(default_factory=list)
    records_in: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)


def check_records(
    paths: Sequence[str | Path],
    on_error: str,
    make: Callable[[object, list[T]], T],
    out: Checked[T],
) -> Checked[T]:
    """Read every record of `paths` into `out`: `make(data, kept so far)` makes one (an
    object with `format` and `source`) or raises Invalid; a bad record raises its
    `RecordError` (file:line, field, expected) or, with on_error="skip", is counted by
    reason."""
    if on_error not in ON_ERROR:
        raise ConfigError(f"unknown on_error '{on_error}' (expected raise or skip)")
    reasons: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    for path in expand_paths(list(paths)):
        for record in iter_records(path):
            out.records_in += 1
            try:
                if record.error is not None:
                    raise record.error
                item = make(record.data, out.records)
            except Invalid as invalid:
                if on_error == "raise":
                    raise RecordError(record, invalid) from None
                reasons[invalid.reason] += 1
                continue
            item.source = f"{record.file}:{record.line}"
            formats[item.format] += 1
            out.records.append(item)
    out.rejected = sum(reasons.values())
    out.rejected_by_reason = dict(sorted(reasons.items()))
    out.formats = dict(formats)
    return out


class RecordError(DataError):
    """A bad record; `reason` is its short code (as counted in `rejected_by_reason`)."""

    def __init__(self, record: RawRecord, invalid: Invalid) -> None:
        super().__init__(
            invalid.message,
            file=record.file,
            line=record.line,
            field=invalid.field,
            expected=invalid.expected,
        )
        self.reason = invalid.reason


def _write_reject(out: IO[str], record: RawRecord, invalid: Invalid, message: str) -> None:
    entry = {
        "source": f"{record.file}:{record.line}",
        "reason": invalid.reason,
        "message": message,
        "raw": record.raw,
    }
    out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")


def _add_system(conversation: Conversation, system_prompt: str | None) -> None:
    if system_prompt is None or conversation.is_text:
        return
    if not conversation.messages or conversation.messages[0].role != "system":
        conversation.messages.insert(0, Message("system", system_prompt))


def to_conversation(
    record: RawRecord, fmt: str, system_prompt: str | None, max_record_chars: int
) -> tuple[str, Conversation]:
    """(format name, conversation) of one record read; `Invalid` when it is bad input."""
    if record.error is not None:
        raise record.error
    name, conversation = convert(record.data, fmt)
    check_record_size(record.data, conversation, max_record_chars, SIZE_KEY)
    conversation.source = f"{record.file}:{record.line}"
    _add_system(conversation, system_prompt)
    return name, conversation


def write_reject(out: IO[str], record: RawRecord, invalid: Invalid) -> None:
    """One rejects-file line for a bad record."""
    _write_reject(out, record, invalid, str(RecordError(record, invalid)))


def load_conversations(
    paths: list[str | Path],
    fmt: str = "auto",
    on_error: str = "raise",
    rejects_path: Path | None = None,
    system_prompt: str | None = None,
    max_record_chars: int = MAX_RECORD_CHARS,
    rejects_out: IO[str] | None = None,
) -> LoadResult:
    """Read, validate and normalise every record of `paths` (files or directories).

    fmt: "auto" (detect per record) or one of alpaca, messages, sharegpt, cqa, text.
    on_error: "raise" raises the first bad record as a `DataError` naming file, line, field
    and expectation; "skip" keeps going, counts the record under its reason and, when
    `rejects_path` is given, appends {"source", "reason", "message", "raw"} there as jsonl.
    system_prompt: inserted as the first message of chat conversations that have no system
    message (text samples are left alone).
    max_record_chars: a record with more characters is bad input (reason `too_large`, the
    message names `data.max_record_chars`), checked before anything tokenizes it.
    rejects_out: with on_error="skip", an open text stream that receives the rejects instead
    of `rejects_path` (so a caller can hold them until it may write).
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ConfigError(f"unknown data format '{fmt}' (expected auto, {', '.join(FORMATS)})")
    if on_error not in ON_ERROR:
        raise ConfigError(f"unknown on_error '{on_error}' (expected raise or skip)")
    files = expand_paths(paths)
    result = LoadResult()
    reasons: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    rejects: IO[str] | None = rejects_out if on_error == "skip" else None
    own = on_error == "skip" and rejects_out is None and rejects_path is not None
    if own:
        Path(rejects_path).parent.mkdir(parents=True, exist_ok=True)
        rejects = open(rejects_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        for path in files:
            for record in iter_records(path):
                result.records_in += 1
                try:
                    name, conversation = to_conversation(
                        record, fmt, system_prompt, max_record_chars
                    )
                except Invalid as invalid:
                    error = RecordError(record, invalid)
                    if on_error == "raise":
                        raise error from None
                    reasons[invalid.reason] += 1
                    if rejects is not None:
                        _write_reject(rejects, record, invalid, str(error))
                    continue
                formats[name] += 1
                result.conversations.append(conversation)
    finally:
        if own and rejects is not None:
            rejects.close()
    result.rejected = sum(reasons.values())
    result.rejected_by_reason = dict(sorted(reasons.items()))
    result.formats = dict(formats)
    return result
