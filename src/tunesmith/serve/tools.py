"""Tool calling in /v1/chat/completions: check `tools` / `tool_choice`, plan the prompt, and
turn parsed calls into OpenAI's message and delta shapes.

- `tool_choice` "none" (the default without tools): the tools are left out of the prompt and
  the output is plain content.
- "auto" (the default with tools): the tools are rendered into the system prompt by the chat
  template and the output is parsed (`tool_parser`); the model decides whether to call.
- "required": the prompt ends with the opening of a call
  (`<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>`), so the model writes a
  function name and its arguments.
- `{"type": "function", "function": {"name": N}}`: the prompt ends with the opening of a call
  of N up to its arguments, so the model writes N's arguments.

Forcing is done by prefilling the prompt, not by constraining the sampler: the structure of
the call is guaranteed, the arguments are whatever the model writes (OpenAI's caveat too:
"the model does not always generate valid JSON").
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.serve.errors import APIError
from tunesmith.serve.protocol import (
    ChatCompletionRequest,
    DeltaFunction,
    DeltaToolCall,
    FunctionCallOut,
    ToolCallOut,
)
from tunesmith.serve.tool_parser import CallDelta, ParsedCall
from tunesmith.tokenize.tool_calls import (
    CALL_TYPE,
    TOOL_CALL_BEGIN,
    TOOL_CALLS_BEGIN,
    TOOL_SEP,
    call_head,
)


@dataclass(frozen=True)
class ToolPlan:
    """How one request uses tools: what the template renders, what the prompt is forced to
    end with (the output continues it), whether the output is parsed for calls."""

    tools: list[dict] | None = None
    forced: str = ""
    parse: bool = False
    parallel: bool = True


def _bad(message: str, param: str) -> APIError:
    return APIError(400, message, param=param, code="invalid_value")


def plan_tools(req: ChatCompletionRequest) -> ToolPlan:
    """The request's ToolPlan, or a 400 naming `tools` / `tool_choice`."""
    choice = req.tool_choice
    if not req.tools:
        if choice is not None and choice != "none":
            raise _bad("'tool_choice' is only allowed when 'tools' are specified", "tool_choice")
        return ToolPlan()
    names = [t.function.name for t in req.tools]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _bad(f"'tools': function '{name}' is defined twice", f"tools.{i}.function.name")
    if choice == "none":
        return ToolPlan()
    tools = [t.model_dump(exclude_none=True) for t in req.tools]
    if choice is None or choice == "auto":
        forced = ""
    elif choice == "required":
        forced = f"{TOOL_CALLS_BEGIN}{TOOL_CALL_BEGIN}{CALL_TYPE}{TOOL_SEP}"
    else:
        name = choice.function.name
        if name not in names:
            raise _bad(
                f"'tool_choice' names function '{name}', which 'tools' does not define"
                f" (defined: {', '.join(names)})",
                "tool_choice",
            )
        forced = TOOL_CALLS_BEGIN + call_head(name)
    return ToolPlan(tools, forced, parse=True, parallel=req.parallel_tool_calls)


def message_calls(calls: list[ParsedCall], parallel: bool) -> list[ToolCallOut] | None:
    kept = calls if parallel else calls[:1]
    out = [
        ToolCallOut(id=c.id, function=FunctionCallOut(name=c.name, arguments=c.arguments))
        for c in kept
    ]
    return out or None


def delta_calls(deltas: list[CallDelta], parallel: bool) -> list[DeltaToolCall]:
    return [
        DeltaToolCall(
            index=d.index,
            id=d.id,
            type=CALL_TYPE if d.name is not None else None,
            function=DeltaFunction(name=d.name, arguments=d.arguments),
        )
        for d in deltas
        if parallel or d.index == 0
    ]


def finish_reason(reason: str | None, called: bool) -> str | None:
    """OpenAI's "tool_calls" when the turn ended by calling tools."""
    return "tool_calls" if called and reason == "stop" else reason
