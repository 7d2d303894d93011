"""The engine for asyncio callers: one background thread owns the `Engine` and runs its loop.

    engine = AsyncEngine(Engine(model)); engine.start()
    async for out in engine.generate("r1", prompt_ids, SamplingParams(max_tokens=8)):
        ...                                  # cumulative RequestOutput after each step
    engine.abort("r1")                       # also done when the consumer stops iterating
    engine.shutdown()

Callers never touch the `Engine` directly: adds and aborts go to the engine thread as
commands, applied between two steps. Outputs come back once per step per event loop (one
`call_soon_threadsafe` wakes the loop for every request it serves). Each request keeps
only its newest output until its consumer reads it: outputs are cumulative, so a consumer
that falls behind (a slow client, a busy event loop) gets the tokens of several steps in
one output instead of a backlog (vLLM's output collector does the same). If a step raises,
every request in the engine gets the error (its `generate` raises `EngineFailure`) and is
aborted, so no slot stays taken; the loop goes on. A request that fails alone (finish reason
"error": its own sampling parameters) raises its `InvalidRequestError` from `generate`; its
neighbours never see it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from tunesmith.inference.engine import Engine
from tunesmith.inference.params import SamplingParams
from tunesmith.inference.request import RequestOutput

log = logging.getLogger(__name__)


class EngineFailure(RuntimeError):
    """The engine failed while running a request (a bug or a broken model, not bad input)."""


@dataclass
class _Add:
    request_id: str
    prompt: list[int]
    params: SamplingParams
    adapter: str | None


@dataclass
class _Abort:
    request_id: str


class _Stream:
    """One request's unread output (the newest wins: outputs are cumulative) or error."""

    __slots__ = ("error", "latest", "loop", "ready")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.ready = asyncio.Event()
        self.latest: RequestOutput | None = None
        self.error: BaseException | None = None

    def put(self, item: RequestOutput | BaseException) -> None:
        """In the stream's event loop."""
        if isinstance(item, BaseException):
            self.error = item
        else:
            self.latest = item
        self.ready.set()


def _deliver(items: list[tuple[str, _Stream, RequestOutput | BaseException]]) -> None:
    for _, stream, item in items:
        stream.put(item)


class AsyncEngine:
    """Thread-owned `Engine` with async streams (see module doc).

    `on_step(outputs)` runs in the engine thread after each step (for metrics).
    """

    def __init__(
        self, engine: Engine, on_step: Callable[[list[RequestOutput]], None] | None = None
    ):
        self.engine = engine
        self.on_step = on_step
        self._commands: list[_Add | _Abort] = []
        self._wake = threading.Condition()
        self._streams: dict[str, _Stream] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="tunesmith-engine", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def num_running(self) -> int:
        return self.engine.num_running

    @property
    def num_waiting(self) -> int:
        return self.engine.num_waiting

    def check_request(
        self, prompt: Sequence[int], params: SamplingParams, adapter: str | None = None
    ) -> int:
        """Validate before queueing (reads only fixed engine settings: safe from any thread)."""
        return self.engine.check_request(prompt, params, adapter)

    async def generate(
        self,
        request_id: str,
        prompt: Sequence[int],
        params: SamplingParams,
        adapter: str | None = None,
    ) -> AsyncIterator[RequestOutput]:
        """Queue a request and yield its outputs until it finishes. Leaving early aborts it.
        Raises InvalidRequestError when the request fails alone, EngineFailure when a step
        failed for every request in it."""
        self.check_request(prompt, params, adapter)
        stream = self._streams[request_id] = _Stream(asyncio.get_running_loop())
        self._send(_Add(request_id, list(prompt), params, adapter))
        finished = False
        try:
            while True:
                await stream.ready.wait()
                stream.ready.clear()
                if stream.error is not None:
                    finished = True
                    raise EngineFailure(str(stream.error)) from stream.error
                item, stream.latest = stream.latest, None
                if item is None:
                    continue
                finished = item.finished
                if item.error is not None:  # this request alone failed (its own parameters)
                    raise item.error
                yield item
                if finished:
                    return
        finally:
            self._streams.pop(request_id, None)
            if not finished:
                self._send(_Abort(request_id))

    def abort(self, request_id: str) -> None:
        self._send(_Abort(request_id))

    # -- the engine thread ---------------------------------------------------------------------

    def _send(self, command: _Add | _Abort) -> None:
        with self._wake:
            self._commands.append(command)
            self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not (self._commands or self._stop or self.engine.has_unfinished()):
                    self._wake.wait()
                if self._stop:
                    return
                commands, self._commands = self._commands, []
            for command in commands:
                self._apply(command)
            if self.engine.has_unfinished():
                self._step()

    def _apply(self, command: _Add | _Abort) -> None:
        if isinstance(command, _Abort):
            self.engine.abort(command.request_id)
            return
        try:
            self.engine.add_request(
                command.request_id, command.prompt, command.params, command.adapter
            )
        except Exception as e:  # checked before queueing; only a race or a bug gets here
            self._push([(command.request_id, e)])

    def _step(self) -> None:
        try:
            outputs = self.engine.step()
        except Exception as e:
            log.exception("engine step failed; aborting %d requests", len(self.engine.requests))
            failed = list(self.engine.requests)
            for request_id in failed:
                self.engine.abort(request_id)
            self._push([(request_id, e) for request_id in failed])
            self.engine.step()  # drop the aborted requests (no forward: nothing is running)
            return
        if self.on_step is not None:
            self.on_step(outputs)
        self._push([(out.request_id, out) for out in outputs])

    def _push(self, items: list[tuple[str, RequestOutput | BaseException]]) -> None:
        """Hand items to their streams: one wake-up per event loop."""
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for request_id, item in items:
            stream = self._streams.get(request_id)
            if stream is not None:
                by_loop.setdefault(stream.loop, []).append((request_id, stream, item))
        for loop, batch in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, batch)
            except RuntimeError:  # the caller's event loop is closed: nobody is listening
                for request_id, _, _ in batch:
                    self.engine.abort(request_id)
