"""The workload of `tunesmith bench serve` and what is measured of it.

One workload per concurrency level: `n` prompts (token ids of demo-task chat questions, so
every arm sees the same ids), each with an arrival time from a seeded Poisson process of
`rate_per_slot * concurrency` requests/s. Every arm sends request i at
`max(arrival_i, a slot is free)` with at most `concurrency` requests outstanding (the
sequential arm: one at a time), greedy, exactly `max_tokens` tokens (end-of-sequence
ignored), and records when its tokens arrive.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase


@dataclass
class Workload:
    prompts: list[list[int]]
    arrivals: list[float]
    """seconds after the start of the run"""
    max_tokens: int
    concurrency: int


@dataclass
class Record:
    """One request as the client saw it (time.perf_counter() seconds)."""

    arrival: float = 0.0
    sent: float | None = None
    """when it was handed to the server / engine (after waiting for a free slot)"""
    event_times: list[float] = field(default_factory=list)
    """when each piece of output arrived (a streamed event: usually one token)"""
    end: float | None = None
    tokens: int = 0
    token_ids: list[int] | None = None
    text: str | None = None
    error: str | None = None


def demo_prompts(tok: PreTrainedTokenizerBase, n: int, seed: int = 0) -> list[list[int]]:
    """Token ids of `n` demo-task chat questions (chat template, generation prompt)."""
    from tunesmith.data.tag_task import chat_dataset

    _, records = chat_dataset(0, n, seed=seed)
    texts = [
        tok.apply_chat_template(r["messages"][:1], tokenize=False, add_generation_prompt=True)
        for r in records
    ]
    return [tok.encode(t, add_special_tokens=False) for t in texts]


def make_workload(
    pool: list[list[int]],
    n: int,
    concurrency: int,
    max_tokens: int,
    rate_per_slot: float,
    seed: int = 0,
) -> Workload:
    """`n` prompts cycled from `pool`, Poisson arrivals at `rate_per_slot * concurrency`/s."""
    rng = random.Random(seed * 1000 + concurrency)
    rate = rate_per_slot * concurrency
    t, arrivals = 0.0, []
    for _ in range(n):
        arrivals.append(t)
        t += rng.expovariate(rate)
    prompts = [pool[i % len(pool)] for i in range(n)]
    return Workload(prompts, arrivals, max_tokens, concurrency)


def wait_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation); None for no values."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _ms(values: list[float], q: float) -> float | None:
    p = percentile(values, q)
    return None if p is None else round(p * 1000, 2)


def summarize(records: list[Record]) -> dict:
    """Aggregate output tokens/s, TTFT, inter-token and end-to-end latency, errors.

    Inter-token latency is the gap between two pieces of output as the client got them (an
    event may carry several tokens when the server merged the steps a slow reader missed);
    time per output token is (last piece - first piece) / (tokens - 1) of each request."""
    ok = [r for r in records if r.error is None and r.end is not None]
    tokens = sum(r.tokens for r in ok)
    start = min((r.arrival for r in records), default=0.0)
    end = max((r.end for r in ok), default=start)
    duration = max(end - start, 1e-9)
    ttft = [r.event_times[0] - r.sent for r in ok if r.event_times and r.sent is not None]
    itl = [b - a for r in ok for a, b in zip(r.event_times, r.event_times[1:], strict=False)]
    tpot = [
        (r.event_times[-1] - r.event_times[0]) / (r.tokens - 1)
        for r in ok
        if r.tokens > 1 and len(r.event_times) > 1
    ]
    e2e = [r.end - r.arrival for r in ok]
    errors = [r.error for r in records if r.error is not None]
    return {
        "requests": len(records),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "output_tokens": tokens,
        "duration_s": round(duration, 3),
        "output_tokens_per_s": round(tokens / duration, 1) if ok else 0.0,
        "ttft_ms_p50": _ms(ttft, 50),
        "ttft_ms_p99": _ms(ttft, 99),
        "itl_ms_p50": _ms(itl, 50),
        "itl_ms_p99": _ms(itl, 99),
        "tpot_ms_p50": _ms(tpot, 50),
        "tpot_ms_p99": _ms(tpot, 99),
        "events_per_request": round(sum(len(r.event_times) for r in ok) / len(ok), 1)
        if ok
        else 0.0,
        "e2e_ms_p50": _ms(e2e, 50),
        "e2e_ms_p99": _ms(e2e, 99),
    }


def same_outputs(a: list[Record], b: list[Record], tok: PreTrainedTokenizerBase) -> int:
    """How many requests produced the same text in both runs (greedy: they all should)."""

    def text(r: Record) -> str | None:
        if r.error is not None:
            return None
        if r.text is not None:
            return r.text
        return tok.decode(r.token_ids or [], skip_special_tokens=True)

    return sum(1 for x, y in zip(a, b, strict=True) if text(x) is not None and text(x) == text(y))
