"""Admission control: a bounded number of requests in flight, and the drain on shutdown.

Capacity is `max_batch + max_queue` engine requests (a chat request with n=3, or a
completions request with 3 prompts, counts 3). Past it a request gets 429 with
`Retry-After`; while draining (SIGTERM) every new request gets 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from tunesmith.serve.errors import APIError


class Admission:
    """Counts requests in flight (event-loop thread only, so no lock)."""

    def __init__(self, capacity: int, retry_after_s: int = 1):
        self.capacity, self.retry_after_s = capacity, retry_after_s
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def check_open(self) -> None:
        if self.draining:
            raise APIError(503, "the server is shutting down", code="server_draining")

    def admit(self, n: int = 1) -> None:
        """Take `n` places or raise: 503 while draining, 400 over capacity, 429 when full."""
        self.check_open()
        if n > self.capacity:
            raise APIError(
                400,
                f"the request asks for {n} generations but the server runs at most "
                f"{self.capacity} at once",
                param="n",
                code="too_many_generations",
            )
        if self.in_flight + n > self.capacity:
            raise APIError(
                429,
                f"the server is at capacity ({self.in_flight} requests in flight, "
                f"{self.capacity} allowed); retry after {self.retry_after_s}s",
                code="queue_full",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        self.in_flight += n
        self._idle.clear()

    def release(self, n: int = 1) -> None:
        self.in_flight -= n
        if self.in_flight <= 0:
            self.in_flight = 0
            self._idle.set()

    @contextmanager
    def place(self, n: int = 1) -> Iterator[None]:
        self.admit(n)
        try:
            yield
        finally:
            self.release(n)

    async def drain(self, timeout_s: float) -> bool:
        """Refuse new requests; wait up to `timeout_s` for those in flight. True if all ended."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
