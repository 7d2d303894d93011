"""Which tokens the next forward pass computes: continuous batching under a token budget.

Interface (driven by `Engine.step()`, one call per forward pass, vLLM v1 style):

    scheduler.add(request)        queue a request (first come, first served)
    scheduler.schedule()          -> SchedulerOutput: (request, number of tokens) chunks
    scheduler.finish(request)     a request ended (stop, length, abort): drop it, free its slot

Policy of one step, under `token_budget` tokens:

1. every running request that is decoding gets its one token (oldest first);
2. running requests still in their prompt get their next prompt chunk (chunked prefill);
3. waiting requests are admitted in arrival order while a KV slot is free and budget is
   left; each gets a slot (with the cached blocks of its prompt loaded into it when prefix
   caching is on) and its first prompt chunk.

A request holds its slot from admission to its end (a slot holds a whole context, so
nothing is ever preempted); `finish` returns the slot at once.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from tunesmith.inference.kv_cache import SlotKVCache
from tunesmith.inference.prefix_cache import PrefixCache
from tunesmith.inference.request import Request


@dataclass(frozen=True)
class Chunk:
    """`num_tokens` tokens of `request`, starting at `request.num_computed`."""

    request: Request
    num_tokens: int

    @property
    def completes_prompt(self) -> bool:
        """After this chunk every known token is cached: the next token can be sampled."""
        return self.request.num_computed + self.num_tokens == self.request.num_tokens


@dataclass
class SchedulerOutput:
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return sum(c.num_tokens for c in self.chunks)


class Scheduler:
    """FCFS admission into KV slots; decode first, then chunked prefill (see module doc)."""

    def __init__(
        self, cache: SlotKVCache, token_budget: int, prefix_cache: PrefixCache | None = None
    ):
        if token_budget < cache.num_slots:
            raise ValueError(
                f"token budget {token_budget} is below the {cache.num_slots} slots: "
                "every running sequence must be able to decode in one step"
            )
        self.cache, self.token_budget = cache, token_budget
        self.prefix_cache = prefix_cache
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []

    def add(self, request: Request) -> None:
        self.waiting.append(request)

    def schedule(self) -> SchedulerOutput:
        out = SchedulerOutput()
        budget = self.token_budget
        # decoders first, in slot order: a full batch then reads its cache without a gather
        for req in sorted(self.running, key=lambda r: (r.in_prefill, r.slot)):
            n = min(req.num_uncomputed, budget)
            if n > 0:
                out.chunks.append(Chunk(req, n))
                budget -= n
        while self.waiting and budget > 0 and self.cache.num_free > 0:
            req = self.waiting.popleft()
            req.slot = self.cache.allocate()
            req.metrics.scheduled = time.monotonic()
            self.running.append(req)
            if self.prefix_cache is not None:
                req.num_computed = self.prefix_cache.load(req)
            n = min(req.num_uncomputed, budget)
            out.chunks.append(Chunk(req, n))
            budget -= n
        return out

    def finish(self, request: Request) -> None:
        """Drop a request from the queue or the running set; free its slot."""
        if self.prefix_cache is not None:
            self.prefix_cache.forget(request)
        if request.slot is not None:
            self.running.remove(request)
            self.cache.free(request.slot)
            request.slot = None
        elif request in self.waiting:
            self.waiting.remove(request)

    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)
