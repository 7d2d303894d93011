"""Record formats: detect a record's format and normalise it to a `Conversation`.

Formats (keys with `?` are optional; null / blank optional values count as absent):

- `messages`:   messages=[{role, content, reasoning_content?, tool_calls?, tool_call_id?}],
                roles system/user/assistant/tool, tools? (OpenAI tool calling, see `tools`).
- `sharegpt`:   conversations=[{from, value}], from in human/user, gpt/assistant, system,
                function_call, observation (LLaMA-Factory's tool calling), tools?;
                an optional top-level `system` string is used when no system turn exists.
- `alpaca`:     instruction, input?, output, system? ->
                [system?], user = instruction + "\\n\\n" + input (if input), assistant = output.
- `cqa`:        context?, question, answer, system? ->
                [system?], user = context + "\\n\\n" + question (just question without
                context), assistant = answer.
- `text`:       text -> Conversation(text=...) for continued pretraining.

Auto-detection is per record, by identifying key, checked in this fixed order; the first
key present decides, so a record carrying several keys is always read the same way:

    messages -> messages, conversations -> sharegpt, instruction -> alpaca,
    question -> cqa, text -> text

A record with none of these keys matches no format. The identifying key only picks the
format; the format's own checks then report missing or malformed fields precisely.

Assistant text may start with a DeepSeek-R1 `<think>...</think>` block, which is split into
`Message.reasoning` (see validate.split_think); an explicit `reasoning_content` wins.
"""

from __future__ import annotations

from collections.abc import Callable

from tunesmith.data.tools import (
    check_known,
    openai_tool_calls,
    parse_tools,
    sharegpt_tool_calls,
)
from tunesmith.data.types import Conversation, Message
from tunesmith.data.validate import (
    Invalid,
    assistant_message,
    check_turns,
    optional_str,
    require_list,
    require_str,
    type_name,
)

MESSAGE_ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
}


def _with_system(system: str | None, turns: list[Message]) -> list[Message]:
    return ([Message("system", system)] if system is not None else []) + turns


def from_messages(record: dict) -> Conversation:
    items = require_list(record, "messages")
    tools = parse_tools(record.get("tools"))
    messages: list[Message] = []
    for i, item in enumerate(items):
        prefix = f"messages[{i}]."
        role = require_str(item, "role", prefix)
        if role not in MESSAGE_ROLES:
            raise Invalid(
                "unknown_role",
                f"unknown role '{role}'",
                field=prefix + "role",
                expected="one of " + ", ".join(MESSAGE_ROLES),
            )
        if role == "assistant":
            calls = openai_tool_calls(item.get("tool_calls"), prefix + "tool_calls")
            if calls:
                check_known(calls, tools, prefix + "tool_calls")
            if calls:  # a turn that calls tools may have null or no content
                text = optional_str(item, "content", prefix) or ""
            else:
                text = require_str(item, "content", prefix, non_empty=False)
            reasoning = optional_str(item, "reasoning_content", prefix)
            messages.append(assistant_message(text, prefix + "content", reasoning, calls))
        elif role == "tool":
            content = require_str(item, "content", prefix, non_empty=False)
            call_id = optional_str(item, "tool_call_id", prefix)
            messages.append(Message("tool", content, tool_call_id=call_id))
        else:
            messages.append(Message(role, require_str(item, "content", prefix)))
    check_turns(messages, "messages", "role")
    return Conversation(messages=messages, tools=tools)


def from_sharegpt(record: dict) -> Conversation:
    items = require_list(record, "conversations")
    tools = parse_tools(record.get("tools"))
    messages: list[Message] = []
    for i, item in enumerate(items):
        prefix = f"conversations[{i}]."
        sender = require_str(item, "from", prefix)
        role = SHAREGPT_ROLES.get(sender)
        if role is None:
            raise Invalid(
                "unknown_role",
                f"unknown role '{sender}'",
                field=prefix + "from",
                expected="one of " + ", ".join(SHAREGPT_ROLES),
            )
        if sender == "function_call":
            calls = sharegpt_tool_calls(require_str(item, "value", prefix), prefix + "value")
            check_known(calls, tools, prefix + "value")
            messages.append(Message("assistant", "", tool_calls=calls))
        elif role == "assistant":
            text = require_str(item, "value", prefix, non_empty=False)
            messages.append(assistant_message(text, prefix + "value"))
        elif role == "tool":
            messages.append(Message("tool", require_str(item, "value", prefix, non_empty=False)))
        else:
            messages.append(Message(role, require_str(item, "value", prefix)))
    check_turns(messages, "conversations", "from")
    system = optional_str(record, "system")
    if system is not None and messages[0].role != "system":
        messages.insert(0, Message("system", system))
    return Conversation(messages=messages, tools=tools)


def from_alpaca(record: dict) -> Conversation:
    instruction = require_str(record, "instruction")
    extra = optional_str(record, "input")
    output = require_str(record, "output", non_empty=False)
    user = instruction + ("\n\n" + extra if extra is not None else "")
    turns = [Message("user", user), assistant_message(output, "output")]
    return Conversation(messages=_with_system(optional_str(record, "system"), turns))


def from_cqa(record: dict) -> Conversation:
    context = optional_str(record, "context")
    question = require_str(record, "question")
    answer = require_str(record, "answer", non_empty=False)
    user = f"{context}\n\n{question}" if context is not None else question
    turns = [Message("user", user), assistant_message(answer, "answer")]
    return Conversation(messages=_with_system(optional_str(record, "system"), turns))


def from_text(record: dict) -> Conversation:
    return Conversation(text=require_str(record, "text"))


# name -> (identifying key, converter, key summary for messages). Order is detection order.
FORMATS: dict[str, tuple[str, Callable[[dict], Conversation], str]] = {
    "messages": ("messages", from_messages, "messages, tools?"),
    "sharegpt": ("conversations", from_sharegpt, "conversations, system?, tools?"),
    "alpaca": ("instruction", from_alpaca, "instruction, input?, output, system?"),
    "cqa": ("question", from_cqa, "context?, question, answer, system?"),
    "text": ("text", from_text, "text"),
}


def format_summary() -> str:
    return "; ".join(f"{name} ({keys})" for name, (_, _, keys) in FORMATS.items())


def detect_format(record: dict) -> str | None:
    """The format whose identifying key comes first in detection order, or None."""
    for name, (key, _, _) in FORMATS.items():
        if key in record:
            return name
    return None


def convert(record: dict, fmt: str = "auto") -> tuple[str, Conversation]:
    """Normalise one parsed record; returns (format name, conversation) or raises Invalid.

    With `fmt` named, a record lacking that format's identifying key but carrying another
    format's key is a `format_mismatch`; otherwise the named format's checks apply.
    """
    if not isinstance(record, dict):
        raise Invalid(
            "not_object",
            f"record is not an object: got {type_name(record)}",
            expected="an object",
        )
    if fmt == "auto":
        name = detect_format(record)
        if name is None:
            keys = ", ".join(sorted(map(str, record))) or "none"
            raise Invalid(
                "no_format",
                f"record matches no format (its keys: {keys})",
                expected="one of: " + format_summary(),
            )
    else:
        name = fmt
        other = detect_format(record)
        if FORMATS[fmt][0] not in record and other is not None:
            raise Invalid(
                "format_mismatch",
                f"record looks like format '{other}', but fmt='{fmt}' was given",
                field=FORMATS[fmt][0],
                expected=f"{fmt} keys: {FORMATS[fmt][2]}",
            )
    conversation = FORMATS[name][1](record)
    conversation.meta["format"] = name
    return name, conversation
