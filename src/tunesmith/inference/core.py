"""The engine core in its own process (vLLM v1's `EngineCore`): the wire format and the
core's loop. The front end is `process_engine.ProcessEngine`.

The front binds two ZeroMQ PUSH/PULL sockets (ipc), spawns the core, and the core connects:
requests (`Add`, `Abort`, `Shutdown`) flow in, `Step` batches (every output of one engine
step, the engine's gauges, per-request failures) flow out, msgpack-encoded with msgspec.
The core process builds its `Engine` with a picklable factory (the model loads there, not
in the server process), announces `Ready` (the limits the front validates requests
against) or `Failed`, then runs: take every queued message, one step, send its outputs.
It exits on `Shutdown` or when its parent process is gone.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable

import msgspec
import zmq

from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.request import Logprob, RequestMetrics, RequestOutput

log = logging.getLogger(__name__)


class Add(msgspec.Struct, tag=True):
    request_id: str
    prompt: list[int]
    params: SamplingParams
    adapter: str | None


class Abort(msgspec.Struct, tag=True):
    request_id: str


class Shutdown(msgspec.Struct, tag=True):
    pass


class Ready(msgspec.Struct, tag=True):
    vocab_size: int
    max_model_len: int
    max_batch: int
    adapters: list[str]
    default_adapter: str | None
    prefix_caching: bool
    pid: int


class Failed(msgspec.Struct, tag=True):
    message: str


class Output(msgspec.Struct):
    """A `RequestOutput` on the wire (its `error`, an exception, as message/param/code)."""

    request_id: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    finish_reason: str | None
    stop_token_id: int | None
    logprobs: list[Logprob] | None
    prompt_logprobs: list[Logprob | None] | None
    adapter: str | None
    metrics: RequestMetrics | None
    error: tuple[str, str | None, str | None] | None

    @classmethod
    def of(cls, out: RequestOutput) -> Output:
        e = out.error
        return cls(
            out.request_id, out.prompt_token_ids, out.token_ids, out.finish_reason,
            out.stop_token_id, out.logprobs, out.prompt_logprobs, out.adapter, out.metrics,
            None if e is None else (str(e), e.param, e.code),
        )  # fmt: skip

    def output(self) -> RequestOutput:
        e = self.error
        return RequestOutput(
            self.request_id, self.prompt_token_ids, self.token_ids, self.finish_reason,
            self.stop_token_id, self.logprobs, self.prompt_logprobs, self.adapter, self.metrics,
            None if e is None else InvalidRequestError(e[0], param=e[1], code=e[2]),
        )  # fmt: skip


class Step(msgspec.Struct, tag=True):
    outputs: list[Output]
    errors: list[tuple[str, str]]
    """(request id, message) of requests that failed in this step"""
    running: int
    waiting: int
    kv_usage: float
    prefix_hit_rate: float


ToCore = Add | Abort | Shutdown
FromCore = Ready | Failed | Step


def run_core(factory: Callable[[], object], in_addr: str, out_addr: str) -> None:
    """The core process's main: build the engine, announce it, serve until shut down."""
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.connect(in_addr)
    push.connect(out_addr)
    try:
        _serve(factory, pull, push)
    finally:
        pull.close(linger=0)
        push.close(linger=2000)  # let the last outputs (or the failure) reach the front
        ctx.term()


def _serve(factory: Callable[[], object], pull: zmq.Socket, push: zmq.Socket) -> None:
    enc, dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(ToCore)
    try:
        engine = factory()
    except Exception as e:
        push.send(enc.encode(Failed(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")))
        return
    push.send(
        enc.encode(
            Ready(
                vocab_size=engine.vocab_size,
                max_model_len=engine.max_model_len,
                max_batch=engine.max_batch,
                adapters=list(engine.adapters),
                default_adapter=engine.default_adapter,
                prefix_caching=engine.prefix_cache is not None,
                pid=os.getpid(),
            )
        )
    )
    parent = os.getppid()
    while True:
        busy = engine.has_unfinished()
        refused: list[tuple[str, str]] = []
        if pull.poll(0 if busy else 1000):
            while True:
                msg = dec.decode(pull.recv())
                if isinstance(msg, Shutdown):
                    return
                refused += _apply(engine, msg)
                if not pull.poll(0):
                    break
        elif not busy and os.getppid() != parent:
            return  # the front end is gone
        if engine.has_unfinished() or refused:
            push.send(enc.encode(_step(engine, refused)))


def _apply(engine, msg: Add | Abort) -> list[tuple[str, str]]:  # noqa: ANN001
    """Apply a message; a request the engine refuses comes back as (id, message)."""
    if isinstance(msg, Abort):
        engine.abort(msg.request_id)
        return []
    try:
        engine.add_request(msg.request_id, msg.prompt, msg.params, msg.adapter)
    except Exception as e:  # validated by the front end: only a race or a bug gets here
        return [(msg.request_id, str(e))]
    return []


def _step(engine, errors: list[tuple[str, str]]) -> Step:  # noqa: ANN001
    if not engine.has_unfinished():
        outputs = []
    else:
        outputs, failed = _run_step(engine)
        errors = errors + failed
    cache = engine.prefix_cache
    return Step(
        outputs=[Output.of(o) for o in outputs],
        errors=errors,
        running=engine.num_running,
        waiting=engine.num_waiting,
        kv_usage=engine.cache.usage,
        prefix_hit_rate=cache.stats.hit_rate if cache is not None else 0.0,
    )


def _run_step(engine) -> tuple[list[RequestOutput], list[tuple[str, str]]]:  # noqa: ANN001
    try:
        outputs = engine.step()
    except Exception as e:  # every running request fails; the core goes on
        log.exception("engine step failed; aborting %d requests", len(engine.requests))
        failed = list(engine.requests)
        for request_id in failed:
            engine.abort(request_id)
        engine.step()
        return [], [(rid, str(e)) for rid in failed]
    return outputs, []
