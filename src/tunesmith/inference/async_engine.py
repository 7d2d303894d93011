"""The engine for asyncio callers: one background thread owns the `Engine` and runs its loop.

    engine = AsyncEngine(Engine(model)); engine.start()
    async for out in engine.generate("r1", prompt_ids, SamplingParams(max_tokens=8)):
        ...                                  # cumulative RequestOutput after each step
    engine.abort("r1")                       # also done when the consumer stops iterating
    engine.shutdown()

Callers never touch the `Engine` directly: adds and aborts go to the engine thread as
commands, applied between two steps; outputs come back through one asyncio queue per
request. If a step raises, every request in the engine gets the error (its `generate`
raises `EngineFailure`) and is aborted, so no slot stays taken; the loop goes on.
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
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = {}
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
        """Queue a request and yield its outputs until it finishes. Leaving early aborts it."""
        self.check_request(prompt, params, adapter)
        queue: asyncio.Queue = asyncio.Queue()
        self._streams[request_id] = (asyncio.get_running_loop(), queue)
        self._send(_Add(request_id, list(prompt), params, adapter))
        finished = False
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    finished = True
                    raise EngineFailure(str(item)) from item
                finished = item.finished
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
            self._push(command.request_id, e)

    def _step(self) -> None:
        try:
            outputs = self.engine.step()
        except Exception as e:
            log.exception("engine step failed; aborting %d requests", len(self.engine.requests))
            for request_id in list(self.engine.requests):
                self.engine.abort(request_id)
                self._push(request_id, e)
            self.engine.step()  # drop the aborted requests (no forward: nothing is running)
            return
        if self.on_step is not None:
            self.on_step(outputs)
        for out in outputs:
            self._push(out.request_id, out)

    def _push(self, request_id: str, item: RequestOutput | BaseException) -> None:
        stream = self._streams.get(request_id)
        if stream is not None:
            loop, queue = stream
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the caller's event loop is closed: nobody is listening
                self.engine.abort(request_id)
