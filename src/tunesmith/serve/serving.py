"""HTTP-side plumbing shared by chat and completions: collect or stream choices, with the
request timeout, client-disconnect cancellation, admission release and SSE framing.

A client that disconnects cancels its generation: the engine request is aborted and its KV
slot freed at the next step. A timeout aborts the same way and answers 504 (or, mid-stream,
an error event). Any failure mid-stream sends an error event, then `data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tunesmith.inference.params import InvalidRequestError
from tunesmith.serve.errors import APIError, ClientDisconnected, error_body
from tunesmith.serve.generation import ChoiceJob, Collected, EventsFn, merged
from tunesmith.serve.shutdown import Ticket, shutdown_error
from tunesmith.serve.state import ServerState

log = logging.getLogger(__name__)


def timeout_error(state: ServerState) -> APIError:
    return APIError(
        504,
        f"the request did not finish within {state.settings.request_timeout_s}s",
        code="timeout",
    )


async def collect(
    state: ServerState, http_id: str, jobs: list[ChoiceJob], request: Request
) -> dict[int, Collected]:
    """Run every choice to the end; 504 on timeout; cancelled if the client disconnects;
    503 when the drain deadline cuts it."""

    async def run() -> dict[int, Collected]:
        results = {j.index: Collected() for j in jobs}
        async for d in merged(state.engine, state.tokenizer, jobs):
            results[d.index].add(d)
        return results

    ids = [j.request_id for j in jobs]
    with state.open_requests.track(http_id, ids, streaming=False) as ticket:
        try:
            async with asyncio.timeout(state.settings.request_timeout_s):
                results = await _unless_disconnected(run(), request)
        except TimeoutError:
            raise timeout_error(state) from None
        if ticket.cut:
            raise shutdown_error()
        return results


async def _unless_disconnected(work: Awaitable, request: Request):
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        raise ClientDisconnected
    finally:
        for t in (task, watcher):
            t.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class ClosingStream(StreamingResponse):
    """A StreamingResponse that always closes its body (aborting the generation inside) and
    then runs `on_close`, however the response ends: done, client gone, or never started."""

    def __init__(self, body: AsyncIterator[str], on_close: Callable[[], None]):
        super().__init__(body, media_type="text/event-stream")
        self._body, self._on_close = body, on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self._body.aclose()  # type: ignore[attr-defined]
            finally:
                self._on_close()


def sse_response(
    state: ServerState,
    http_id: str,
    jobs: list[ChoiceJob],
    events: EventsFn,
    places: int,
) -> StreamingResponse:
    """Stream `events(deltas)` as SSE; the admission places are released when it ends. Cut
    by the drain deadline, it ends with an error event (code "server_shutdown")."""

    async def body() -> AsyncIterator[str]:
        ids = [j.request_id for j in jobs]
        with state.open_requests.track(http_id, ids, streaming=True) as ticket:
            async for line in _framed(ticket):
                yield line
        yield "data: [DONE]\n\n"

    async def _framed(ticket: Ticket) -> AsyncIterator[str]:
        try:
            async with asyncio.timeout(state.settings.request_timeout_s):
                deltas = merged(state.engine, state.tokenizer, jobs)
                async with contextlib.aclosing(deltas), contextlib.aclosing(events(deltas)) as ev:
                    async for event in ev:
                        if ticket.cut:
                            break
                        yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
            if ticket.cut:
                yield f"data: {json.dumps(shutdown_error().body())}\n\n"
        except TimeoutError:
            yield f"data: {json.dumps(timeout_error(state).body())}\n\n"
        except APIError as e:
            yield f"data: {json.dumps(e.body())}\n\n"
        except InvalidRequestError as e:  # this request alone failed (its own parameters)
            yield f"data: {json.dumps(APIError.from_invalid(e).body())}\n\n"
        except Exception as e:
            log.exception("stream failed")
            yield f"data: {json.dumps(error_body(500, f'generation failed: {e}'))}\n\n"

    return ClosingStream(body(), lambda: state.admission.release(places))
