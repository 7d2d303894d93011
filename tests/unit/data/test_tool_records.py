"""Tool-calling records (OpenAI and LLaMA-Factory ShareGPT): normalised, and bad ones named."""

from __future__ import annotations

import json

import pytest

from tunesmith.data.load import load_conversations
from tunesmith.data.types import Message, ToolCall
from tunesmith.errors import DataError

TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
OPENAI = {
    "tools": TOOLS,
    "messages": [
        {"role": "user", "content": "1+2?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
        {"role": "assistant", "content": "3"},
    ],
}
SHAREGPT = {
    "tools": json.dumps([{"name": "add", "parameters": {"type": "object"}}]),
    "conversations": [
        {"from": "human", "value": "1+2?"},
        {"from": "function_call", "value": '{"name": "add", "arguments": {"a": 1, "b": 2}}'},
        {"from": "observation", "value": "3"},
        {"from": "gpt", "value": "3"},
    ],
}


def _load(tmp_path, *records):  # noqa: ANN001, ANN002
    path = tmp_path / "tools.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return load_conversations([path])


def test_both_conventions_normalise_to_the_same_conversation(tmp_path) -> None:
    result = _load(tmp_path, OPENAI, SHAREGPT)
    a, b = result.conversations
    assert result.formats == {"messages": 1, "sharegpt": 1}
    assert a.tools == b.tools == TOOLS
    call = ToolCall("add", '{"a": 1, "b": 2}')
    assert a.messages == [
        Message("user", "1+2?"),
        Message("assistant", "", tool_calls=[ToolCall("add", '{"a": 1, "b": 2}', "c1")]),
        Message("tool", "3", tool_call_id="c1"),
        Message("assistant", "3"),
    ]
    assert b.messages == [
        Message("user", "1+2?"),
        Message("assistant", "", tool_calls=[call]),
        Message("tool", "3"),
        Message("assistant", "3"),
    ]


def _with(record: dict, i: int, **changes) -> dict:  # noqa: ANN003
    key = "messages" if "messages" in record else "conversations"
    turns = [dict(t) for t in record[key]]
    turns[i].update(changes)
    return {**record, key: turns}


CALL0 = OPENAI["messages"][1]["tool_calls"][0]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            _with(
                OPENAI, 1, tool_calls=[{**CALL0, "function": {"name": "mul", "arguments": "{}"}}]
            ),
            "field 'messages[1].tool_calls': call of 'mul', which the record's tools do not define"
            " (expected one of add)",
        ),
        (
            _with(
                OPENAI, 1, tool_calls=[{**CALL0, "function": {"name": "add", "arguments": "[1]"}}]
            ),
            "field 'messages[1].tool_calls[0].function.arguments': arguments are JSON list,"
            " not an object (expected a JSON object (or its text))",
        ),
        (
            _with(OPENAI, 2, role="user"),
            "field 'messages[2].role': assistant turn 1 calls tools but no tool result follows it"
            " (expected a tool (observation) turn with each call's result after the calls)",
        ),
        (
            {**OPENAI, "messages": OPENAI["messages"][:3]},
            "field 'messages[2].role': conversation ends with a tool result that has no reply"
            " (expected the last turn to be assistant)",
        ),
        (
            {
                **OPENAI,
                "messages": [OPENAI["messages"][0], OPENAI["messages"][2], OPENAI["messages"][3]],
            },
            "field 'messages[1].role': tool result at position 1 does not follow an assistant turn"
            " that calls tools (expected tool results right after the assistant turn whose calls"
            " they answer)",
        ),
        (
            _with(SHAREGPT, 1, value='{"name": "add", "arguments": '),
            "field 'conversations[1].value': not valid JSON: Expecting value: line 1 column 30"
            ' (char 29) (expected JSON text of {"name", "arguments"} or a list of them)',
        ),
        (
            {**SHAREGPT, "tools": '[{"name": "a b"}]'},
            "field 'tools[0].name': bad function name: got 'a b' (expected a function name of"
            " 1-64 letters, digits, '_', '.' or '-')",
        ),
    ],
)
def test_bad_tool_records_name_file_line_and_field(tmp_path, record, message) -> None:
    with pytest.raises(DataError) as e:
        _load(tmp_path, OPENAI, record)
    assert str(e.value) == f"{tmp_path / 'tools.jsonl'}:2: {message}"


def test_curation_keeps_tool_calls_through_spill_and_output(tmp_path) -> None:
    from tunesmith.data.curate.items import Item, from_spill, to_output, to_spill

    conv = _load(tmp_path, SHAREGPT).conversations[0]
    back = from_spill(to_spill(Item(conv, 0, {}, "x", "train"))).conv
    assert (back.messages, back.tools) == (conv.messages, conv.tools)
    written = to_output(Item(back, 0, {"tools": TOOLS}, "x", "train"))
    again = _load(tmp_path, {k: v for k, v in written.items() if k != "tunesmith"})
    assert again.conversations[0].messages == conv.messages
