"""Tool (function) definitions and calls in training records, checked and normalised.

Two conventions are read:

- OpenAI: a top-level `tools` list of `{"type": "function", "function": {name, description?,
  parameters?}}`, assistant messages with `tool_calls` = `[{"id"?, "type": "function",
  "function": {"name", "arguments"}}]` and `tool` messages (`content`, `tool_call_id`?).
- ShareGPT as LLaMA-Factory writes it: a top-level `tools` JSON string (a list of bare
  `{name, description?, parameters?}`), `function_call` turns whose value is the JSON text of
  `{"name", "arguments"}` (or a list of them, for parallel calls) and `observation` turns that
  carry a tool's result.

Either form of `tools` (list or JSON text, wrapped or bare definitions) is accepted by both.
`arguments` may be a JSON object or its text; text is kept as written (it must parse to an
object), an object is serialised with `json.dumps(..., ensure_ascii=False)`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tunesmith.data.types import ToolCall
from tunesmith.data.validate import Invalid, type_name

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
NAME_EXPECTED = "a function name of 1-64 letters, digits, '_', '.' or '-'"


def _json_text(value: Any, field: str, expected: str) -> Any:
    """`value` itself, or the JSON it holds when it is a string."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise Invalid("bad_json", f"not valid JSON: {e}", field=field, expected=expected) from None


def check_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        got = repr(value) if isinstance(value, str) else type_name(value)
        raise Invalid(
            "bad_tool", f"bad function name: got {got}", field=field, expected=NAME_EXPECTED
        )
    return value


def parse_tools(value: Any, field: str = "tools") -> list[dict] | None:
    """OpenAI-shaped tool definitions from a list or its JSON text; None/empty means none."""
    expected = "a list of function definitions {name, description?, parameters?}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    items = _json_text(value, field, expected)
    if not isinstance(items, list):
        raise Invalid(
            "bad_tool", f"wrong type: got {type_name(items)}", field=field, expected=expected
        )
    tools = [_tool(item, f"{field}[{i}]") for i, item in enumerate(items)]
    names = [t["function"]["name"] for t in tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise Invalid(
                "bad_tool",
                f"function '{name}' is defined twice",
                field=f"{field}[{i}]",
                expected="unique function names",
            )
    return tools or None


def _tool(item: Any, field: str) -> dict:
    if isinstance(item, dict) and "function" in item:
        if item.get("type", "function") != "function":
            raise Invalid(
                "bad_tool",
                f"tool type {item.get('type')!r}",
                field=field + ".type",
                expected="'function'",
            )
        item, field = item["function"], field + ".function"
    if not isinstance(item, dict):
        raise Invalid(
            "bad_tool",
            f"wrong type: got {type_name(item)}",
            field=field,
            expected="an object {name, description?, parameters?}",
        )
    out: dict = {"name": check_name(item.get("name"), field + ".name")}
    description = item.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise Invalid(
                "bad_tool",
                f"wrong type: got {type_name(description)}",
                field=field + ".description",
                expected="a string",
            )
        out["description"] = description
    parameters = item.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, dict):
            raise Invalid(
                "bad_tool",
                f"wrong type: got {type_name(parameters)}",
                field=field + ".parameters",
                expected="a JSON Schema object",
            )
        out["parameters"] = parameters
    return {"type": "function", "function": out}


def parse_arguments(value: Any, field: str) -> str:
    """Call arguments as JSON text of an object."""
    expected = "a JSON object (or its text)"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        raise Invalid(
            "bad_tool_call", f"wrong type: got {type_name(value)}", field=field, expected=expected
        )
    parsed = _json_text(value, field, expected)
    if not isinstance(parsed, dict):
        raise Invalid(
            "bad_tool_call",
            f"arguments are JSON {type_name(parsed)}, not an object",
            field=field,
            expected=expected,
        )
    return value


def _call(name: Any, arguments: Any, field: str, call_id: Any = None) -> ToolCall:
    if call_id is not None and not isinstance(call_id, str):
        raise Invalid(
            "bad_tool_call",
            f"wrong type: got {type_name(call_id)}",
            field=field + "id",
            expected="a string",
        )
    if arguments is None:
        arguments = {}
    return ToolCall(
        check_name(name, field + "name"), parse_arguments(arguments, field + "arguments"), call_id
    )


def openai_tool_calls(value: Any, field: str) -> list[ToolCall] | None:
    """An assistant message's `tool_calls`: [{"id"?, "type"?, "function": {name, arguments}}]."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise Invalid(
            "bad_tool_call", f"wrong type: got {type_name(value)}", field=field, expected="a list"
        )
    calls = []
    for i, item in enumerate(value):
        prefix = f"{field}[{i}]."
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            raise Invalid(
                "bad_tool_call",
                "missing or malformed 'function'",
                field=prefix + "function",
                expected="an object {name, arguments}",
            )
        calls.append(
            _call(
                function.get("name"),
                function.get("arguments"),
                prefix + "function.",
                item.get("id"),
            )
        )
    return calls or None


def sharegpt_tool_calls(value: str, field: str) -> list[ToolCall]:
    """A `function_call` turn's value: JSON text of {name, arguments} or a list of them."""
    expected = 'JSON text of {"name", "arguments"} or a list of them'
    parsed = _json_text(value, field, expected)
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise Invalid("bad_tool_call", "empty list of calls", field=field, expected=expected)
    calls = []
    for item in items:
        if not isinstance(item, dict):
            raise Invalid(
                "bad_tool_call",
                f"wrong type: got {type_name(item)}",
                field=field,
                expected=expected,
            )
        calls.append(_call(item.get("name"), item.get("arguments"), field + "."))
    return calls


def check_known(calls: list[ToolCall], tools: list[dict] | None, field: str) -> None:
    """Every called function is one of `tools` (when the record defines tools)."""
    if tools is None:
        return
    names = [t["function"]["name"] for t in tools]
    for call in calls:
        if call.name not in names:
            raise Invalid(
                "unknown_tool",
                f"call of '{call.name}', which the record's tools do not define",
                field=field,
                expected="one of " + ", ".join(names),
            )
