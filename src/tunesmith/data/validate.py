"""Record-level checks shared by the format converters.

Every check raises `Invalid`, which carries a short `reason` code (used to count and file
rejects) plus the message / field / expectation. The loader turns it into a `DataError`
that names the file and line: "train.jsonl:7: field 'output': empty text (expected ...)".

Conversation rules (enforced by `check_turns`), chosen for the DeepSeek chat template,
which renders strictly alternating user / assistant turns after one optional system prompt:

- a system message may only come first;
- the first non-system message is a user message;
- user and assistant alternate: two consecutive turns of the same role are rejected
  (merge them upstream; silently merging would change what the model is trained on);
- there is at least one assistant turn, and the last turn is an assistant turn
  (a trailing user turn has no reply to learn from).

Tool calling adds: an assistant turn that calls tools is followed by at least one `tool`
turn (its results) unless it is the last turn (a sample may end on the call); tool turns
come only right after such an assistant turn or another tool turn; after the results the
assistant answers (a user turn there is rejected).
"""

from __future__ import annotations

from typing import Any

from tunesmith.data.types import Message, ToolCall

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


class Invalid(Exception):
    """A record failed a check; the loader adds file and line."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason, self.message, self.field, self.expected = reason, message, field, expected


def type_name(value: Any) -> str:
    """JSON-flavoured name of a value's type, for "got ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def require_str(record: dict, key: str, prefix: str = "", *, non_empty: bool = True) -> str:
    """`record[key]` as a string; missing, non-string or (if `non_empty`) blank is Invalid."""
    name = prefix + key
    if key not in record:
        raise Invalid("missing_field", "missing required field", field=name, expected="a string")
    value = record[key]
    if not isinstance(value, str):
        raise Invalid(
            "wrong_type", f"wrong type: got {type_name(value)}", field=name, expected="a string"
        )
    if non_empty and not value.strip():
        raise Invalid(
            "empty_text", "empty or whitespace-only text", field=name, expected="non-empty text"
        )
    return value


def optional_str(record: dict, key: str, prefix: str = "") -> str | None:
    """`record[key]` if present and not blank; None (or "", whitespace) means absent."""
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(
            "wrong_type",
            f"wrong type: got {type_name(value)}",
            field=prefix + key,
            expected="a string or null",
        )
    return value if value.strip() else None


def require_list(record: dict, key: str) -> list:
    """`record[key]` as a list of objects."""
    if key not in record:
        raise Invalid("missing_field", "missing required field", field=key, expected="a list")
    value = record[key]
    if not isinstance(value, list):
        raise Invalid(
            "wrong_type", f"wrong type: got {type_name(value)}", field=key, expected="a list"
        )
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid(
                "wrong_type",
                f"wrong type: got {type_name(item)}",
                field=f"{key}[{i}]",
                expected="an object",
            )
    return value


def split_think(text: str, field: str) -> tuple[str | None, str]:
    """Split a leading `<think>...</think>` block off assistant text.

    Returns (reasoning, content): reasoning is the stripped text inside the block (None when
    there is no block or it is empty), content the text after `</think>` with leading
    whitespace removed. Text without a leading block comes back unchanged.
    """
    body = text.lstrip()
    if not body.startswith(THINK_OPEN):
        return None, text
    end = body.find(THINK_CLOSE)
    if end < 0:
        raise Invalid(
            "unclosed_think",
            "unclosed <think> block",
            field=field,
            expected=f"a closed {THINK_CLOSE}",
        )
    reasoning = body[len(THINK_OPEN) : end].strip()
    content = body[end + len(THINK_CLOSE) :].lstrip()
    return reasoning or None, content


def assistant_message(
    text: str,
    field: str,
    reasoning: str | None = None,
    tool_calls: list[ToolCall] | None = None,
) -> Message:
    """An assistant Message from raw text: split <think>, explicit `reasoning` wins.

    With an explicit `reasoning`, a leading <think> block is still removed from the content
    (it would otherwise be trained on twice). A turn that calls tools may have no text.
    """
    think, content = split_think(text, field)
    if not content.strip() and not tool_calls:
        raise Invalid(
            "empty_text",
            "assistant answer is empty" + (" after the </think> block" if think else ""),
            field=field,
            expected="non-empty text",
        )
    reasoning = reasoning if reasoning is not None else think
    return Message("assistant", content, reasoning, tool_calls=tool_calls)


def check_turns(messages: list[Message], list_field: str, role_key: str) -> None:
    """Enforce the conversation rules in the module docstring on normalised messages."""
    expected_order = "user and assistant turns to alternate, after one optional system message"
    if not messages:
        raise Invalid(
            "no_assistant", "empty conversation", field=list_field, expected="at least one turn"
        )
    for i, msg in enumerate(messages):
        field = f"{list_field}[{i}].{role_key}"
        if msg.role == "system":
            if i > 0:
                raise Invalid(
                    "bad_order",
                    f"system message at position {i}; only the first message may be system",
                    field=field,
                    expected=expected_order,
                )
            continue
        _check_order(messages, i, field, expected_order)
    if not any(m.role == "assistant" for m in messages):
        raise Invalid(
            "no_assistant",
            "conversation has no assistant turn",
            field=list_field,
            expected="at least one assistant message",
        )
    if messages[-1].role != "assistant":
        who = messages[-1].role
        raise Invalid(
            f"trailing_{who}",
            f"conversation ends with a {who} turn that has no reply"
            if who == "user"
            else "conversation ends with a tool result that has no reply",
            field=f"{list_field}[{len(messages) - 1}].{role_key}",
            expected="the last turn to be assistant",
        )


def _check_order(messages: list[Message], i: int, field: str, expected_order: str) -> None:
    """Message i (not system) may follow message i - 1 (see the module docstring)."""
    msg = messages[i]
    before = messages[i - 1] if i > 0 else None
    previous = before.role if before is not None else "system"
    calls = before is not None and before.role == "assistant" and bool(before.tool_calls)
    if previous == "system" and msg.role != "user":
        raise Invalid(
            "bad_order",
            f"conversation starts with '{msg.role}'",
            field=field,
            expected="the first turn (after an optional system message) to be user",
        )
    if msg.role == "tool":
        if not calls and previous != "tool":
            raise Invalid(
                "bad_order",
                f"tool result at position {i} does not follow an assistant turn that calls tools",
                field=field,
                expected="tool results right after the assistant turn whose calls they answer",
            )
        return
    if calls:
        raise Invalid(
            "missing_tool_result",
            f"assistant turn {i - 1} calls tools but no tool result follows it",
            field=field,
            expected="a tool (observation) turn with each call's result after the calls",
        )
    if previous == "tool" and msg.role != "assistant":
        raise Invalid(
            "bad_order",
            f"'{msg.role}' turn at position {i} right after tool results",
            field=field,
            expected="the assistant to answer after the tool results",
        )
    if previous == msg.role:
        raise Invalid(
            "consecutive_roles",
            f"two consecutive '{msg.role}' turns at positions {i - 1} and {i};"
            " the DeepSeek chat template needs alternation, merge them",
            field=field,
            expected=expected_order,
        )
