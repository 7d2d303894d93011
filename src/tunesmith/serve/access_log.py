"""One log line per HTTP request: method, path, status, id, model, tokens, latency.

    install_access_log(app, state)     # in build_app; logger "tunesmith.access"

Generation requests log at INFO; /health, /ready and /metrics (probes and scrapes) at DEBUG.
Fields (JSON keys with `--log-json`): `request_id` (the response's `id`, e.g. chatcmpl-...,
else the client's X-Request-ID), `model` (the request's), `status`, `latency_s` (arrival to
the last byte sent; 499 when the client disconnected before a non-streaming answer), and for generations `prompt_tokens` / `completion_tokens`, counted by the
engine as `usage` counts them, streamed or not, with or without `stream_options`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunesmith.inference.request import RequestOutput
from tunesmith.serve.errors import ClientDisconnected
from tunesmith.serve.state import ServerState

log = logging.getLogger("tunesmith.access")

QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})
_BODY_PEEK = 64 * 1024  # bytes of a request body searched for "model"
_MODEL = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ID = re.compile(rb'"id"\s*:\s*"([^"]+)"')


class TokenTally:
    """Prompt and generated tokens per engine request, fed by the engine's `on_step`.

    Engine requests of one HTTP request are named `{id}-{choice}` (chat) or
    `{id}-{prompt}-{choice}` (completions); the choices of one prompt share its prompt
    tokens. `take(id)` sums and forgets them; requests never taken (a failed response has no
    id) are dropped oldest first beyond `limit`.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def observe(self, outputs: list[RequestOutput]) -> None:
        with self._lock:
            for out in outputs:
                generated = len(out.token_ids) + (out.stop_token_id is not None)
                self._counts.pop(out.request_id, None)  # re-insert: newest last
                self._counts[out.request_id] = (len(out.prompt_token_ids), generated)
            while len(self._counts) > self._limit:
                del self._counts[next(iter(self._counts))]

    def take(self, http_id: str) -> tuple[int, int] | None:
        """(prompt tokens, completion tokens) of `http_id`, or None if the engine saw none."""
        prefix = http_id + "-"
        with self._lock:
            keys = [k for k in self._counts if k.startswith(prefix)]
            counts = {k: self._counts.pop(k) for k in keys}
        if not counts:
            return None
        prompts: dict[str, int] = {}
        for key, (prompt, _) in counts.items():
            prompts[key.rpartition("-")[0]] = prompt  # one prompt per `{id}[-{prompt}]`
        return sum(prompts.values()), sum(generated for _, generated in counts.values())


class AccessLog:
    """ASGI middleware that writes the access line when the response has been sent."""

    def __init__(self, app: ASGIApp, tally: TokenTally):
        self.app, self.tally = app, tally

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen = {"request": b"", "response": b"", "status": 500}

        async def peek_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(seen["request"]) < _BODY_PEEK:
                seen["request"] += message.get("body", b"")
            return message

        async def peek_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and not seen["response"]:
                seen["response"] = message.get("body", b"")[:_BODY_PEEK]
            await send(message)

        try:
            await self.app(scope, peek_receive, peek_send)
        except ClientDisconnected:  # the generation is cancelled; nothing more to send
            seen["status"] = 499
        finally:
            self._write(scope, seen, time.perf_counter() - start)

    def _write(self, scope: Scope, seen: dict, latency: float) -> None:
        path = scope["path"]
        level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
        if not log.isEnabledFor(level):
            return
        fields: dict[str, object] = {
            "request_id": _first(_ID, seen["response"]) or Headers(scope=scope).get("x-request-id"),
            "model": _first(_MODEL, seen["request"]),
            "status": seen["status"],
            "latency_s": round(latency, 4),
        }
        rid = fields["request_id"]
        tokens = self.tally.take(rid) if isinstance(rid, str) else None
        if tokens is not None:
            fields["prompt_tokens"], fields["completion_tokens"] = tokens
        fields = {k: v for k, v in fields.items() if v is not None}
        log.log(level, "%s %s", scope["method"], path, extra=fields)


def _first(pattern: re.Pattern[bytes], body: bytes) -> str | None:
    match = pattern.search(body)
    if match is None:
        return None
    try:
        return json.loads(b'"' + match.group(1) + b'"')
    except ValueError:
        return match.group(1).decode("utf-8", "replace")


def _chain(
    first: Callable[[list[RequestOutput]], None] | None,
    second: Callable[[list[RequestOutput]], None],
) -> Callable[[list[RequestOutput]], None]:
    if first is None:
        return second

    def both(outputs: list[RequestOutput]) -> None:
        first(outputs)
        second(outputs)

    return both


def uvicorn_logging() -> dict[str, object]:
    """uvicorn options: no access log of its own (this one replaces it) and, when tunesmith
    configured logging (`setup_logging`), uvicorn's records go through the same handlers."""
    from tunesmith.log import is_configured

    return {"access_log": False, **({"log_config": None} if is_configured() else {})}


def install_access_log(app, state: ServerState) -> None:  # noqa: ANN001  (a FastAPI app)
    """Log every request of `app` (outermost middleware: it sees 401s and 503s too)."""
    tally = TokenTally()
    state.engine.on_step = _chain(state.engine.on_step, tally.observe)
    app.add_middleware(AccessLog, tally=tally)
