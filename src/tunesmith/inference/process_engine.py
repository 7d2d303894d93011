"""The engine core in its own process, behind the interface of `AsyncEngine`.

    engine = ProcessEngine(partial(build_engine, "tiny-qwen2"))  # serve/engine_process.py   # spawns the core, waits
    engine.start()
    async for out in engine.generate("r1", prompt_ids, SamplingParams(max_tokens=8)):
        ...
    engine.shutdown()

The server process keeps tokenizing, detokenizing and streaming; the core process (see
`core`) schedules and runs the model, so the two no longer share a GIL. Requests are
validated here against the core's limits before they cross the boundary. A reader thread
receives each step's outputs and hands them to the streams (one wake-up per event loop per
step, newest output wins, as `AsyncEngine`); `on_step(outputs)` runs there (metrics).

A core that dies (killed, out of memory, a segfault) is noticed within `poll_s`: every
in-flight request gets an `EngineFailure`, `alive` turns False, new requests fail at once,
and `on_death(exitcode)` runs (the server then reports not ready and exits non-zero).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq

from tunesmith.inference.async_engine import EngineFailure, _Stream, follow, push_to_streams
from tunesmith.inference.checks import RequestLimits
from tunesmith.inference.core import Abort, Add, Failed, FromCore, Ready, Shutdown, Step, run_core
from tunesmith.inference.params import SamplingParams
from tunesmith.inference.request import RequestOutput

log = logging.getLogger(__name__)


@dataclass
class _CacheView:
    usage: float = 0.0


@dataclass(frozen=True)
class _Rate:
    hit_rate: float


@dataclass
class _PrefixView:
    stats: _Rate


class CoreView:
    """What the server reads of an in-process `Engine` (`engine.engine`), as last reported
    by the core: limits, KV usage, queue sizes, prefix-cache hit rate."""

    def __init__(self, ready: Ready):
        self.max_batch, self.max_model_len = ready.max_batch, ready.max_model_len
        self.vocab_size = ready.vocab_size
        self.adapters, self.default_adapter = tuple(ready.adapters), ready.default_adapter
        self.pid = ready.pid
        self.cache = _CacheView()
        self.prefix_cache = _PrefixView(_Rate(0.0)) if ready.prefix_caching else None
        self.num_running = self.num_waiting = 0
        self.hit_rate = 0.0


class ProcessEngine:
    """`AsyncEngine`'s interface over an engine-core process (see module doc)."""

    def __init__(
        self,
        factory: Callable[[], object],
        on_step: Callable[[list[RequestOutput]], None] | None = None,
        on_death: Callable[[int | None], None] | None = None,
        startup_timeout_s: float = 600.0,
        poll_s: float = 0.1,
    ):
        self.on_step, self.on_death, self.poll_s = on_step, on_death, poll_s
        self._dir = tempfile.TemporaryDirectory(prefix="tunesmith-core-")
        in_addr = f"ipc://{Path(self._dir.name) / 'in'}"
        out_addr = f"ipc://{Path(self._dir.name) / 'out'}"
        self._ctx = zmq.Context()
        self._push, self._pull = self._ctx.socket(zmq.PUSH), self._ctx.socket(zmq.PULL)
        self._push.bind(in_addr)
        self._pull.bind(out_addr)
        self._enc, self._dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(FromCore)
        self._send_lock = threading.Lock()
        self._streams: dict[str, _Stream] = {}
        self._stop = False
        self.alive = True
        self.exitcode: int | None = None
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(
            target=run_core, args=(factory, in_addr, out_addr), name="tunesmith-core", daemon=True
        )
        self.process.start()
        ready = self._await_ready(startup_timeout_s)
        self.engine = CoreView(ready)
        self.limits = RequestLimits(
            ready.vocab_size, ready.max_model_len, tuple(ready.adapters), ready.default_adapter
        )
        self._thread = threading.Thread(target=self._read, name="tunesmith-core-io", daemon=True)

    def _await_ready(self, timeout_s: float) -> Ready:
        waited = 0.0
        while waited < timeout_s:
            if self._pull.poll(int(self.poll_s * 1000)):
                msg = self._dec.decode(self._pull.recv())
                if isinstance(msg, Failed):
                    self._close()
                    raise RuntimeError(f"the engine core failed to start: {msg.message}")
                if isinstance(msg, Ready):
                    return msg
            elif not self.process.is_alive():
                self._close()
                raise RuntimeError(
                    f"the engine core process exited with {self.process.exitcode} at start-up"
                )
            waited += self.poll_s
        self.process.kill()
        self._close()
        raise RuntimeError(f"the engine core did not start within {timeout_s:g} s")

    # -- the AsyncEngine interface --------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def shutdown(self, timeout: float = 10.0) -> None:
        self._stop = True
        if self.process.is_alive():
            self._send(Shutdown())
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._close()

    @property
    def num_running(self) -> int:
        return self.engine.num_running

    @property
    def num_waiting(self) -> int:
        return self.engine.num_waiting

    def check_request(
        self, prompt: Sequence[int], params: SamplingParams, adapter: str | None = None
    ) -> int:
        return self.limits.check_request(prompt, params, adapter)

    async def generate(
        self,
        request_id: str,
        prompt: Sequence[int],
        params: SamplingParams,
        adapter: str | None = None,
    ) -> AsyncIterator[RequestOutput]:
        """Queue a request in the core and yield its outputs; leaving early aborts it."""
        if not self.alive:
            raise EngineFailure(self._death_message())
        self.check_request(prompt, params, adapter)
        stream = self._streams[request_id] = _Stream(asyncio.get_running_loop())
        self._send(Add(request_id, list(prompt), params, adapter))
        forget = lambda: self._streams.pop(request_id, None)  # noqa: E731
        items = follow(stream, forget, lambda: self.abort(request_id))
        async with aclosing(items):
            async for item in items:
                yield item

    def abort(self, request_id: str) -> None:
        if self.alive:
            self._send(Abort(request_id))

    # -- the reader thread ----------------------------------------------------------------------

    def _send(self, msg: Add | Abort | Shutdown) -> None:
        with self._send_lock:
            self._push.send(self._enc.encode(msg))

    def _read(self) -> None:
        while not self._stop:
            if self._pull.poll(int(self.poll_s * 1000)):
                msg = self._dec.decode(self._pull.recv())
                if isinstance(msg, Step):
                    self._on_step(msg)
            elif not self.process.is_alive():
                if not self._stop:
                    self._died()
                return

    def _on_step(self, msg: Step) -> None:
        view = self.engine
        view.num_running, view.num_waiting = msg.running, msg.waiting
        view.cache.usage = msg.kv_usage
        if view.prefix_cache is not None:
            view.prefix_cache.stats = _Rate(msg.prefix_hit_rate)
        outputs = [o.output() for o in msg.outputs]
        if self.on_step is not None and outputs:
            self.on_step(outputs)
        items = [(out.request_id, out) for out in outputs]
        items += [(rid, EngineFailure(text)) for rid, text in msg.errors]
        self._push_items(items)

    def _died(self) -> None:
        self.alive, self.exitcode = False, self.process.exitcode
        message = self._death_message()
        log.error("%s; failing %d in-flight requests", message, len(self._streams))
        self._push_items([(rid, EngineFailure(message)) for rid in list(self._streams)])
        if self.on_death is not None:
            self.on_death(self.exitcode)

    def _death_message(self) -> str:
        return f"the engine core process died (exit code {self.exitcode})"

    def _push_items(self, items: list[tuple[str, RequestOutput | BaseException]]) -> None:
        push_to_streams(self._streams, items, self.abort)

    def _close(self) -> None:
        self._push.close(linger=0)
        self._pull.close(linger=0)
        self._ctx.term()
        self._dir.cleanup()
