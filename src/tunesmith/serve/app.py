"""The FastAPI app and the uvicorn server around it (with the SIGTERM drain).

    state = ServerState(AsyncEngine(Engine(model)), tokenizer, {"my-model": None})
    serve(state, host="127.0.0.1", port=8000)        # blocks; SIGTERM drains, then exits 0

`build_app(state)` alone gives the ASGI app (tests run it in a uvicorn thread).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunesmith.serve.access_log import install_access_log, uvicorn_logging
from tunesmith.serve.errors import (
    APIError,
    ClientDisconnected,
    install_error_handlers,
    internal_error,
)
from tunesmith.serve.openapi import install_openapi
from tunesmith.serve.routes import router
from tunesmith.serve.shutdown import drain
from tunesmith.serve.state import ServerState

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""Paths that need no API key and stay up while draining (/ready then answers 503)."""


class Gate:
    """ASGI middleware: 503 while draining, 401 without the API key, every response counted
    by status: an unexpected exception is answered here as an OpenAI-shaped 500 (logged once,
    counted), a client that disconnected from a non-streaming request is counted as 499."""

    def __init__(self, app: ASGIApp, state: ServerState):
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = self.state.metrics.responses
        started = False

        async def counted_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                counter.labels(str(message["status"])).inc()
            await send(message)

        try:
            await self._gated(scope, receive, counted_send)
        except ClientDisconnected:
            counter.labels("499").inc()
            raise  # the access log records the 499
        except Exception as e:
            log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                await internal_error(e).response()(scope, receive, counted_send)

    async def _gated(self, scope: Scope, receive: Receive, counted_send: Send) -> None:
        if scope["path"] not in OPEN_PATHS:
            error = None
            if self.state.admission.draining:
                error = APIError(503, "the server is shutting down", code="server_draining")
            elif not self.state.authorized(_header(scope, b"authorization")):
                error = APIError(
                    401,
                    "missing or wrong API key (send 'Authorization: Bearer KEY')",
                    code="invalid_api_key",
                )
            if error is not None:
                await error.response()(scope, receive, counted_send)
                return
        await self.app(scope, receive, counted_send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def build_app(state: ServerState) -> FastAPI:
    """The app; its lifespan starts the engine thread and stops it at shutdown."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        state.engine.start()
        try:
            yield
        finally:
            state.engine.shutdown()

    app = FastAPI(title="tunesmith", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.tunesmith = state
    install_error_handlers(app)
    app.include_router(router)
    install_openapi(app)
    app.add_middleware(Gate, state=state)
    install_access_log(app, state)
    return app


def serve(
    state: ServerState, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info"
) -> None:
    """Run the server until SIGINT, or SIGTERM + drain (`state.settings.drain_seconds`; what
    is still open at the deadline is cut with an error event or a 503, see `shutdown`)."""
    import uvicorn

    config = uvicorn.Config(
        build_app(state),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=1,
        **uvicorn_logging(),
    )
    server = uvicorn.Server(config)
    default_exit = server.handle_exit
    tasks: set[asyncio.Task] = set()

    def handle_exit(sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or state.admission.draining:
            default_exit(sig, frame)
            return
        loop = asyncio.get_event_loop()  # uvicorn's, running in this (the main) thread
        loop.call_soon_threadsafe(lambda: tasks.add(loop.create_task(_drain_then_exit())))

    async def _drain_then_exit() -> None:
        await drain(state, state.settings.drain_seconds)
        server.should_exit = True

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    server.run()
