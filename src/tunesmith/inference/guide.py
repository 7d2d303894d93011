"""What a request's output must match (structured output), as plain data.

A `Guide` rides in `SamplingParams.guide`, so it crosses the engine-process boundary as is;
the engine turns it into a per-request `grammar.Constraint` where sampling happens.

    Guide.json_schema({"type": "object", "properties": {"a": {"type": "integer"}}})
    Guide.json_object()                      # any JSON object (response_format json_object)
    Guide.regex(r"\\d{3}-\\d{4}")
    Guide.choice(["yes", "no"])              # exactly one of these strings
    Guide.lark('start: "a"+')                # a Lark grammar (llguidance's dialect)

`param` is the request field an error about this guide names (the server's 400 `param`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

GuideKind = Literal["json", "regex", "choice", "lark"]


@dataclass(frozen=True)
class Guide:
    """kind "json": `spec` is the JSON schema as JSON text; "regex": a regular expression the
    whole output matches (Rust `regex` syntax); "choice": a JSON list of the allowed strings;
    "lark": a Lark grammar."""

    kind: GuideKind
    spec: str
    param: str = "response_format"

    @classmethod
    def json_schema(cls, schema: dict[str, Any] | bool, param: str = "response_format") -> Guide:
        return cls("json", json.dumps(schema, sort_keys=True), param)

    @classmethod
    def json_object(cls, param: str = "response_format") -> Guide:
        return cls.json_schema({"type": "object"}, param)

    @classmethod
    def regex(cls, pattern: str, param: str = "guided_regex") -> Guide:
        return cls("regex", pattern, param)

    @classmethod
    def choice(cls, options: list[str], param: str = "guided_choice") -> Guide:
        return cls("choice", json.dumps(list(options)), param)

    @classmethod
    def lark(cls, grammar: str, param: str = "guided_grammar") -> Guide:
        return cls("lark", grammar, param)
