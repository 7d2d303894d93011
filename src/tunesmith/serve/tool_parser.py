"""Model output in DeepSeek-V3's tool-call markup -> OpenAI `tool_calls`, incrementally.

`ToolCallStream.update(text, final)` takes the assistant content generated so far and returns
what is new since the last call: content text, and tool-call deltas in the form OpenAI (and
vLLM's tool parsers) stream them. A call's first delta carries `index`, `id`, `type` and
`function.name`; later deltas carry `function.arguments` pieces, whose concatenation is the
arguments text exactly as the model wrote it. Non-streaming answers run the same machine once
over the whole text (`parse_tool_calls`), so both report the same calls.

Text before `<｜tool▁calls▁begin｜>` is content; a trailing piece of text that could still
become that marker is held back until the output decides it. Text after
`<｜tool▁calls▁end｜>` is dropped (DeepSeek-V3 ends its turn there). When the calls block
holds no named call by the end of the output, its text is handed out as content instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from tunesmith.serve.text import partial_suffix
from tunesmith.tokenize.tool_calls import (
    ARGS_CLOSE,
    ARGS_OPEN,
    TOOL_CALL_BEGIN,
    TOOL_CALL_END,
    TOOL_CALLS_BEGIN,
    TOOL_CALLS_END,
    TOOL_SEP,
)

CALL_CLOSE = ARGS_CLOSE + TOOL_CALL_END


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass
class CallDelta:
    """A piece of call `index`: its head (id and name) or more of its arguments."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass
class ParsedCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class _Call:
    id: str
    name_sent: bool = False
    args_sent: int = 0


@dataclass
class ToolCallStream:
    """Incremental parser of one choice's content (see module doc)."""

    content_sent: int = 0
    calls: list[_Call] = field(default_factory=list)

    @property
    def called(self) -> bool:
        return any(c.name_sent for c in self.calls)

    def update(self, text: str, final: bool = False) -> tuple[str, list[CallDelta]]:
        start = text.find(TOOL_CALLS_BEGIN)
        if start < 0:
            safe = len(text) if final else len(text) - partial_suffix(text, TOOL_CALLS_BEGIN)
            return self._content(text, safe), []
        content = self._content(text, start)
        block = text[start + len(TOOL_CALLS_BEGIN) :]
        end = block.find(TOOL_CALLS_END)
        closed = end >= 0
        if closed:
            block = block[:end]
        deltas = []
        for k, body in enumerate(block.split(TOOL_CALL_BEGIN)[1:]):
            deltas += self._call(k, body, final or closed)
        if final and not self.called:  # no call came of it: the text was content after all
            return content + self._content(text, len(text)), []
        return content, deltas

    def _content(self, text: str, upto: int) -> str:
        piece = text[self.content_sent : upto]
        self.content_sent = max(self.content_sent, upto)
        return piece

    def _call(self, k: int, body: str, final: bool) -> list[CallDelta]:
        """Deltas of call k from its text so far (after `<｜tool▁call▁begin｜>`)."""
        if k == len(self.calls):
            self.calls.append(_Call(new_call_id()))
        call = self.calls[k]
        done = body.find(TOOL_CALL_END)
        if done >= 0:
            body, final = body[:done] + TOOL_CALL_END, True
        sep = body.find(TOOL_SEP)
        if sep < 0:
            return []
        head = body[sep + len(TOOL_SEP) :]
        newline = head.find("\n")
        if newline < 0:
            if not final or not head.strip():
                return []
            newline = len(head)
        out = []
        if not call.name_sent:
            call.name_sent = True
            name = head[:newline].strip()
            out.append(CallDelta(k, id=call.id, name=name))
        args = head[newline:]
        args = args[len(ARGS_OPEN) :] if args.startswith(ARGS_OPEN) else args.lstrip("\n")
        if args.endswith(CALL_CLOSE):
            args = args[: -len(CALL_CLOSE)]
        elif args.endswith(TOOL_CALL_END):
            args = args[: -len(TOOL_CALL_END)]
        elif not final:
            args = args[: len(args) - partial_suffix(args, CALL_CLOSE)]
        if ARGS_OPEN.startswith(head[newline:]) and not final:
            return out  # the ```json fence is still arriving
        if len(args) > call.args_sent:
            out.append(CallDelta(k, arguments=args[call.args_sent :]))
            call.args_sent = len(args)
        return out


def parse_tool_calls(text: str) -> tuple[str, list[ParsedCall]]:
    """(content, calls) of a whole output, by the streaming machine run once."""
    stream = ToolCallStream()
    content, deltas = stream.update(text, final=True)
    calls: list[ParsedCall] = []
    for d in deltas:
        if d.name is not None:
            calls.append(ParsedCall(d.id or new_call_id(), d.name))
        if d.arguments is not None:
            calls[d.index].arguments += d.arguments
    return content, calls
