"""Text-level generation over the async engine: one prompt -> a stream of text deltas.

Shared by chat and completions (and `tunesmith generate`): builds `SamplingParams` from a
request, runs one engine request per choice, applies stop strings, and merges the choices
of one HTTP request (n > 1, or a batch of prompts) into one stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from transformers import PreTrainedTokenizerBase

from tunesmith.inference.async_engine import AsyncEngine
from tunesmith.inference.params import SamplingParams
from tunesmith.inference.request import Logprob, RequestOutput
from tunesmith.serve.errors import APIError
from tunesmith.serve.protocol import SamplingFields, Usage
from tunesmith.serve.structured import guide_of
from tunesmith.serve.text import TextStream


@dataclass
class ChoiceJob:
    """What one choice generates: prompt ids, sampling, stop strings, adapter."""

    index: int
    request_id: str
    prompt_ids: list[int]
    params: SamplingParams
    stop: list[str] = field(default_factory=list)
    adapter: str | None = None


@dataclass
class ChoiceDelta:
    """New text (and logprobs) of one choice since its previous delta."""

    index: int
    text: str
    logprobs: list[Logprob]
    finish_reason: str | None
    output: RequestOutput


@dataclass
class Collected:
    """Everything one choice produced, accumulated from its deltas."""

    text: str = ""
    logprobs: list[Logprob] = field(default_factory=list)
    finish_reason: str | None = None
    output: RequestOutput | None = None

    def add(self, d: ChoiceDelta) -> None:
        self.text += d.text
        self.logprobs.extend(d.logprobs)
        self.output = d.output
        self.finish_reason = d.finish_reason or self.finish_reason


EventsFn = Callable[[AsyncIterator[ChoiceDelta]], AsyncIterator[dict]]
"""Turns the merged deltas of a request into its SSE event payloads."""


def choice_params(params: SamplingParams, i: int) -> SamplingParams:
    """Choice i of n: the same parameters, its own seed (seed + i) so choices differ."""
    if i == 0 or params.seed is None:
        return params
    return replace(params, seed=params.seed + i)


def sampling_params(
    req: SamplingFields,
    *,
    max_tokens: int | None,
    eos_id: int | None,
    logprobs: int | None = None,
    prompt_logprobs: int | None = None,
) -> SamplingParams:
    """SamplingParams from the fields chat and completions requests share (after refusing
    the fields tunesmith does not implement)."""
    reject_unsupported(req)
    stop_ids = list(req.stop_token_ids)
    if eos_id is not None and not req.ignore_eos:
        stop_ids.append(eos_id)
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=1.0 if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        top_k=req.top_k,
        repetition_penalty=req.repetition_penalty,
        frequency_penalty=req.frequency_penalty,
        presence_penalty=req.presence_penalty,
        seed=req.seed,
        stop_token_ids=stop_ids,
        logprobs=logprobs,
        prompt_logprobs=prompt_logprobs,
        logit_bias=_logit_bias(req.logit_bias),
        guide=guide_of(req),
    )


def _logit_bias(bias: dict[str, float] | None) -> dict[int, float]:
    out = {}
    for key, value in (bias or {}).items():
        try:
            out[int(key)] = value
        except ValueError:
            raise APIError(
                400,
                f"'logit_bias' keys must be token ids (integers as strings), got {key!r}",
                param="logit_bias",
                code="invalid_value",
            ) from None
    return out


def reject_unsupported(req: SamplingFields) -> None:
    """A 400 naming the first field that asks for something tunesmith does not do."""
    refused = req.unsupported()
    if refused is not None:
        param, message = refused
        raise APIError(400, message, param=param, code="unsupported_parameter")


async def run_choice(
    engine: AsyncEngine, tok: PreTrainedTokenizerBase, job: ChoiceJob
) -> AsyncIterator[ChoiceDelta]:
    """Deltas of one choice until it finishes (a stop string ends the engine request)."""
    text = TextStream(tok, job.stop)
    seen_logprobs = 0
    gen = engine.generate(job.request_id, job.prompt_ids, job.params, job.adapter)
    async with contextlib.aclosing(gen) as outputs:
        async for out in outputs:
            delta = text.update(out.token_ids, out.finished)
            finish = "stop" if text.stopped else out.finish_reason
            new = (out.logprobs or [])[seen_logprobs:]
            seen_logprobs += len(new)
            if delta or new or finish is not None or out.prompt_logprobs is not None:
                yield ChoiceDelta(job.index, delta, new, finish, out)
            if finish is not None:
                return  # leaving the generator aborts the engine request if still running


async def merged(
    engine: AsyncEngine, tok: PreTrainedTokenizerBase, jobs: list[ChoiceJob]
) -> AsyncIterator[ChoiceDelta]:
    """Deltas of several choices, interleaved as they come; all cancelled on exit."""
    if len(jobs) == 1:
        async with contextlib.aclosing(run_choice(engine, tok, jobs[0])) as only:
            async for d in only:
                yield d
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(job: ChoiceJob) -> None:
        try:
            async for d in run_choice(engine, tok, job):
                await queue.put(d)
        except Exception as e:  # handed to the consumer, which re-raises it
            await queue.put(e)
        finally:
            await queue.put(done)

    tasks = [asyncio.create_task(pump(j)) for j in jobs]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is done:
                remaining -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                yield item
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def usage(outputs: dict[int, RequestOutput], prompt_tokens: int) -> Usage:
    """Usage of finished choices: every generated token counts, a stop token included."""
    completion = sum(len(o.token_ids) + (o.stop_token_id is not None) for o in outputs.values())
    return Usage(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        total_tokens=prompt_tokens + completion,
    )
