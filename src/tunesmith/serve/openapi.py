"""`/openapi.json` as the server behaves: every status it answers with the OpenAI error
model, the content types it really sends, optional Bearer auth, no 422 (bad input is 400).

    responses=ERRORS_GENERATION          # on a route: the statuses it may answer
    install_openapi(app)                 # replaces FastAPI's generator with `openapi_schema`
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tunesmith.serve.protocol import ChatCompletionChunk, CompletionResponse, ErrorResponse

_DESCRIPTIONS = {
    400: "Invalid request: a field of the wrong type or out of range (named in `param`), "
    "a prompt too long for the context window, an unsupported option.",
    401: "Missing or wrong API key (only when the server runs with `--api-key`).",
    404: "The `model` named is not served.",
    429: "The server is at capacity; retry after `Retry-After` seconds.",
    500: "The engine failed (a bug or a broken model, never the request's input).",
    503: "The server is shutting down (draining).",
    504: "The request did not finish within `--request-timeout`.",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Route `responses` for these error statuses, each with the OpenAI error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorResponse, "description": _DESCRIPTIONS[status]}
        if status == 429:
            out[status]["headers"] = _RETRY_AFTER
    return out


GATED = (401, 503)
"""what the gate in front of every protected route answers"""
ERRORS_GENERATION = errors(400, *GATED, 404, 429, 500, 504)
ERRORS_TOKENS = errors(400, *GATED, 404)
ERRORS_GATED = errors(*GATED)

SSE = {"schema": {"type": "string"}}
"""a stream's place in a route's 200; `openapi_schema` fills in the schema of its events"""
STREAM_CHUNKS: dict[str, type[BaseModel]] = {
    "/v1/chat/completions": ChatCompletionChunk,
    "/v1/completions": CompletionResponse,
}
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})


def openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, less the 422s it assumes (this server answers 400), plus the
    optional Bearer scheme on every route that takes the API key and the served model names
    as the values of every request's `model`."""
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            operation["responses"].pop("422", None)
            if path not in OPEN_PATHS:
                operation["security"] = [{"bearer": []}, {}]  # required only with --api-key
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, chunk in STREAM_CHUNKS.items():
        if path in schema["paths"]:
            stream = schema["paths"][path]["post"]["responses"]["200"]["content"]
            stream["text/event-stream"] = _event_stream(schemas, chunk)
    state = getattr(app.state, "tunesmith", None)
    if state is not None:
        _served_names(schemas, list(state.models))
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return schema


def _event_stream(schemas: dict[str, Any], chunk: type[BaseModel]) -> dict[str, Any]:
    """The media type object of a stream: each event's `data` is a JSON chunk, an error
    object (the request failed mid-stream) or `[DONE]` (the last event). Before OpenAPI 3.2
    (`itemSchema`), `schema` describes each event of a text/event-stream."""
    found = chunk.model_json_schema(ref_template=_REF + "{model}")
    schemas.update(found.pop("$defs", {}))
    schemas[chunk.__name__] = found
    payload = {"anyOf": [{"$ref": _REF + chunk.__name__}, {"$ref": _REF + "ErrorResponse"}]}
    data = {
        "type": "string",
        "if": {"const": "[DONE]"},
        "else": {"contentMediaType": "application/json", "contentSchema": payload},
    }
    return {
        "description": "With `stream: true`: server-sent events, one `data: {chunk}` per "
        "event (an `{error}` object when the request fails mid-stream), then `data: [DONE]`.",
        "schema": {"type": "object", "required": ["data"], "properties": {"data": data}},
    }


_REF = "#/components/schemas/"


def _served_names(schemas: dict[str, Any], names: list[str]) -> None:
    """`model` of every request is one of the served names (any other is a 404)."""
    served = {"type": "string", "enum": names, "description": "a served model name (404 else)"}
    for schema in schemas.values():
        model = schema.get("properties", {}).get("model")
        if model is None or "Request" not in schema.get("title", ""):
            continue
        optional = "model" not in schema.get("required", [])
        schema["properties"]["model"] = (
            {"anyOf": [served, {"type": "null"}]} if optional else served
        )


def install_openapi(app: FastAPI) -> None:
    cache: dict[str, Any] = {}

    def cached() -> dict[str, Any]:
        if not cache:
            cache.update(openapi_schema(app))
        return cache

    app.openapi = cached  # type: ignore[method-assign]
