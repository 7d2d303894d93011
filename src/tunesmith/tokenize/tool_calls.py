"""DeepSeek-V3's tool-calling markup: the markers, and how calls, results and tools render.

An assistant turn that calls tools renders its text, then the calls (as DeepSeek-V3's chat
template and vLLM's `deepseek_v3` tool parser have them):

    {content}<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}
    ```json
    {arguments}
    ```<｜tool▁call▁end｜>
    <｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>

The results of consecutive `tool` turns render as one block, and the assistant's answer to
them follows the block directly (no `<｜Assistant｜>` marker, as in DeepSeek-V3):

    <｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{result}<｜tool▁output▁end｜>
    <｜tool▁output▁begin｜>...<｜tool▁output▁end｜><｜tool▁outputs▁end｜>{answer}<｜end▁of▁sentence｜>

The function definitions a sample offers are appended to its system prompt (after a blank
line when there is one) as `tools_block` writes them. DeepSeek tokenizers have each marker as
one token; the tokenizer tunesmith ships (4096 ids, sized for the shipped tiny models) has
them as plain text, a few byte-level pieces each, which trains and parses the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol


class ToolCall(Protocol):
    """What rendering needs of a call (`data.types.ToolCall` is one)."""

    name: str
    arguments: str


TOOL_CALLS_BEGIN = "<｜tool▁calls▁begin｜>"
TOOL_CALLS_END = "<｜tool▁calls▁end｜>"
TOOL_CALL_BEGIN = "<｜tool▁call▁begin｜>"
TOOL_CALL_END = "<｜tool▁call▁end｜>"
TOOL_SEP = "<｜tool▁sep｜>"
TOOL_OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>"
TOOL_OUTPUTS_END = "<｜tool▁outputs▁end｜>"
TOOL_OUTPUT_BEGIN = "<｜tool▁output▁begin｜>"
TOOL_OUTPUT_END = "<｜tool▁output▁end｜>"
ARGS_OPEN = "\n```json\n"
ARGS_CLOSE = "\n```"
CALL_TYPE = "function"

TOOLS_HEADER = "## Tools\nYou have access to the following tools:"


def call_head(name: str) -> str:
    """A call up to where its arguments start."""
    return f"{TOOL_CALL_BEGIN}{CALL_TYPE}{TOOL_SEP}{name}{ARGS_OPEN}"


def render_call(call: ToolCall) -> str:
    return f"{call_head(call.name)}{call.arguments}{ARGS_CLOSE}{TOOL_CALL_END}"


def render_calls(calls: Iterable[ToolCall]) -> str:
    """The calls block an assistant turn ends with (before its eos)."""
    return TOOL_CALLS_BEGIN + "\n".join(render_call(c) for c in calls) + TOOL_CALLS_END


def render_outputs(results: Iterable[str]) -> str:
    """The block of consecutive tool results."""
    body = "\n".join(f"{TOOL_OUTPUT_BEGIN}{r}{TOOL_OUTPUT_END}" for r in results)
    return TOOL_OUTPUTS_BEGIN + body + TOOL_OUTPUTS_END


def tools_block(tools: list[dict]) -> str:
    """The function definitions as system-prompt text (`parameters` as compact-spaced JSON)."""
    parts = [TOOLS_HEADER]
    for tool in tools:
        f = tool.get("function", tool)
        text = "### " + f["name"]
        if f.get("description") is not None:
            text += "\nDescription: " + f["description"]
        if f.get("parameters") is not None:
            text += "\nParameters: " + json.dumps(f["parameters"], ensure_ascii=False)
        parts.append(text)
    return "\n\n".join(parts)
