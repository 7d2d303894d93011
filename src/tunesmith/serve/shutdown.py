"""The drain on SIGTERM: finish what is in flight, then cut what the deadline leaves open.

    await drain(state, seconds)      # in the server's event loop; True if nothing was cut

New requests get 503 from the start of the drain. When `seconds` pass with requests still
open, each is cut: its engine requests are aborted (slots freed), a stream sends an
OpenAI-shaped error event (code "server_shutdown") and `data: [DONE]`, a non-streaming
request answers 503 with the same code, and one log line names each cut request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tunesmith.serve.errors import APIError

if TYPE_CHECKING:
    from tunesmith.inference.async_engine import AsyncEngine
    from tunesmith.serve.state import ServerState

log = logging.getLogger(__name__)

AFTER_CUT_S = 5.0
"""how long cut requests get to send their last event before the server stops"""


@dataclass
class Ticket:
    """One open HTTP request: its response id and engine requests; `cut` once the drain
    deadline passed."""

    http_id: str
    request_ids: list[str]
    streaming: bool
    cut: bool = False


def shutdown_error() -> APIError:
    return APIError(
        503,
        "the server is shutting down: the drain deadline passed before this request finished",
        code="server_shutdown",
    )


class OpenRequests:
    """The generation requests being answered (event-loop thread only)."""

    def __init__(self) -> None:
        self._open: dict[int, Ticket] = {}

    @contextmanager
    def track(self, http_id: str, request_ids: list[str], streaming: bool) -> Iterator[Ticket]:
        ticket = Ticket(http_id, request_ids, streaming)
        self._open[id(ticket)] = ticket
        try:
            yield ticket
        finally:
            self._open.pop(id(ticket), None)

    def cut_all(self, engine: AsyncEngine) -> list[Ticket]:
        """Mark every open request cut and abort its generations; one log line each."""
        cut = list(self._open.values())
        for ticket in cut:
            ticket.cut = True
            for request_id in ticket.request_ids:
                engine.abort(request_id)
            kind = "stream" if ticket.streaming else "request"
            log.warning("drain deadline passed: cut %s %s", kind, ticket.http_id)
        return cut


async def drain(state: ServerState, seconds: float) -> bool:
    """Refuse new requests, wait up to `seconds` for those in flight, then cut the rest and
    give them `AFTER_CUT_S` to send their last event. True when nothing had to be cut."""
    log.info("SIGTERM: draining %d requests for up to %ss", state.admission.in_flight, seconds)
    if await state.admission.drain(seconds):
        return True
    cut = state.open_requests.cut_all(state.engine)
    log.warning("drain deadline passed after %ss: %d requests cut", seconds, len(cut))
    if not await state.admission.drain(AFTER_CUT_S):
        log.warning("%d requests still open; stopping anyway", state.admission.in_flight)
    return False
