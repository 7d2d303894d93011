"""Structured output on the wire: a request's `response_format` or vLLM `guided_*` field as
the `Guide` its engine requests carry (the engine masks their rows, `inference.grammar`).

    response_format {"type": "json_object"}                        -> any JSON object
    response_format {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}
    guided_json {...} (or its JSON text)   guided_regex "..."   guided_choice ["a", "b"]
    guided_grammar "..." (a Lark grammar, llguidance's dialect)
    structured_outputs {"json" | "regex" | "choice" | "grammar": ..., or "json_object": true}

At most one of them per request (400 otherwise). Whether the schema, regex or grammar is
valid is checked with the engine's limits (`RequestLimits.check_request`): a 400 naming the
field, or, without the `grammar` extra installed, a 400 saying how to install it.
"""

from __future__ import annotations

import json

from tunesmith.inference.guide import Guide
from tunesmith.serve.errors import APIError
from tunesmith.serve.protocol import SamplingFields, StructuredOutputs

GUIDED = ("guided_json", "guided_regex", "guided_choice", "guided_grammar")
_NEWER = {"json": "guided_json", "regex": "guided_regex", "choice": "guided_choice"}
_NEWER |= {"grammar": "guided_grammar"}


def guide_of(req: SamplingFields) -> Guide | None:
    """The guide `req` asks for, None for free text; APIError 400 when it asks for two or a
    field is malformed."""
    fmt = req.response_format
    asked = ["response_format"] if fmt is not None and fmt.type != "text" else []
    asked += [name for name in GUIDED if getattr(req, name) is not None]
    newer = req.structured_outputs
    if newer is not None:
        keys = (*_NEWER, "json_object")
        asked += [f"structured_outputs.{k}" for k in keys if _newer(newer, k) not in (None, False)]
    if len(asked) > 1:
        raise APIError(
            400,
            f"at most one of 'response_format' (json_object / json_schema), "
            f"{', '.join(repr(g) for g in GUIDED)} and 'structured_outputs' (one key) may be "
            f"set, got {' and '.join(asked)}",
            param=asked[1],
            code="invalid_value",
        )
    if not asked:
        return None
    name = asked[0]
    if name == "response_format":
        return _response_format(req)
    if name == "structured_outputs.json_object":
        return Guide.json_object(name)
    if name.startswith("structured_outputs."):
        key = name.split(".", 1)[1]
        return _guided(_NEWER[key], _newer(req.structured_outputs, key), name)
    return _guided(name, getattr(req, name), name)


def _newer(fields: StructuredOutputs, key: str) -> object:
    return fields.json_ if key == "json" else getattr(fields, key)


def _guided(kind: str, value: object, param: str) -> Guide:
    if kind == "guided_json":
        return Guide.json_schema(_schema_value(value, param), param)
    if kind == "guided_regex":
        return Guide.regex(value, param)
    if kind == "guided_choice":
        return Guide.choice(value, param)
    return Guide.lark(value, param)


def _response_format(req: SamplingFields) -> Guide:
    fmt = req.response_format
    if fmt.type == "json_object":
        return Guide.json_object()
    if fmt.json_schema is None:
        raise APIError(
            400,
            "'response_format' of type 'json_schema' needs 'json_schema': "
            '{"name": ..., "schema": {...}}',
            param="response_format.json_schema",
            code="invalid_value",
        )
    schema = fmt.json_schema.schema_
    return Guide.json_object() if schema is None else Guide.json_schema(schema)


def _schema_value(value: dict | str, param: str) -> dict | bool:
    if not isinstance(value, str):
        return value
    try:
        schema = json.loads(value)
    except json.JSONDecodeError as e:
        raise APIError(
            400, f"'{param}' is not valid JSON: {e}", param=param, code="invalid_value"
        ) from None
    if not isinstance(schema, dict | bool):
        raise APIError(
            400,
            f"'{param}' must be a JSON schema (an object), got {type(schema).__name__}",
            param=param,
            code="invalid_value",
        )
    return schema
