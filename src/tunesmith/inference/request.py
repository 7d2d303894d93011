"""A request's state inside the engine, and the snapshots of it the engine hands out."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tunesmith.inference.params import InvalidRequestError, SamplingParams

if TYPE_CHECKING:
    from tunesmith.inference.grammar import Constraint

FinishReason = Literal["stop", "length", "abort", "error"]


@dataclass(frozen=True)
class Logprob:
    """The logprob of one token, with the most likely alternatives at that position."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()
    """(token id, logprob) of the k most likely tokens, most likely first"""


@dataclass
class RequestMetrics:
    """Timestamps (time.monotonic()) of a request's life; None until they happen."""

    arrival: float
    scheduled: float | None = None
    first_token: float | None = None
    last_token: float | None = None
    finished: float | None = None


@dataclass
class RequestOutput:
    """A snapshot of one request, cumulative: `token_ids` are all tokens generated so far.

    `finish_reason` is None while the request runs, then "stop" (a stop token), "length"
    (max_tokens or the context length), "abort" (cancelled) or "error" (this request alone
    failed, e.g. its sampling parameters made its distribution non-finite: `error` says why).
    The stop token is not in `token_ids`; `stop_token_id` names it.
    """

    request_id: str
    prompt_token_ids: list[int]
    token_ids: list[int]
    finish_reason: FinishReason | None = None
    stop_token_id: int | None = None
    logprobs: list[Logprob] | None = None
    prompt_logprobs: list[Logprob | None] | None = None
    adapter: str | None = None
    metrics: RequestMetrics | None = None
    error: InvalidRequestError | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class Request:
    """Engine-side state of one request. Only the engine thread mutates it."""

    request_id: str
    prompt_token_ids: list[int]
    params: SamplingParams
    max_tokens: int
    """resolved: params.max_tokens, capped by the context length"""
    adapter: str | None = None
    generator: random.Random | None = None
    """the request's own random stream (sampled requests): seeded, so a token never depends
    on the other rows of its batch"""
    constraint: Constraint | None = None
    """the grammar state of a request with `params.guide` (advanced by each sampled token)"""
    output_token_ids: list[int] = field(default_factory=list)
    logprobs: list[Logprob] = field(default_factory=list)
    prompt_logprobs: list[Logprob | None] = field(default_factory=list)
    num_computed: int = 0
    """tokens whose keys/values are in the cache"""
    slot: int | None = None
    finish_reason: FinishReason | None = None
    stop_token_id: int | None = None
    error: InvalidRequestError | None = None
    metrics: RequestMetrics = field(default_factory=lambda: RequestMetrics(time.monotonic()))

    @property
    def all_token_ids(self) -> list[int]:
        return self.prompt_token_ids + self.output_token_ids

    def token_ids(self, start: int, n: int) -> list[int]:
        """`all_token_ids[start : start + n]` without building the whole list."""
        prompt = len(self.prompt_token_ids)
        if start >= prompt:
            return self.output_token_ids[start - prompt : start - prompt + n]
        return self.all_token_ids[start : start + n]

    @property
    def num_tokens(self) -> int:
        return len(self.prompt_token_ids) + len(self.output_token_ids)

    @property
    def num_uncomputed(self) -> int:
        """Tokens still to feed through the model (prompt chunks, or the last sampled token)."""
        return self.num_tokens - self.num_computed

    @property
    def in_prefill(self) -> bool:
        return self.num_computed < len(self.prompt_token_ids)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def finish(self, reason: FinishReason, stop_token_id: int | None = None) -> None:
        self.finish_reason, self.stop_token_id = reason, stop_token_id
        self.metrics.finished = time.monotonic()

    def snapshot(self) -> RequestOutput:
        p = self.params
        return RequestOutput(
            request_id=self.request_id,
            prompt_token_ids=self.prompt_token_ids,
            token_ids=list(self.output_token_ids),
            finish_reason=self.finish_reason,
            stop_token_id=self.stop_token_id,
            logprobs=list(self.logprobs) if p.logprobs is not None else None,
            prompt_logprobs=list(self.prompt_logprobs) if p.prompt_logprobs is not None else None,
            adapter=self.adapter,
            metrics=self.metrics,
            error=self.error,
        )
