"""POST /v1/completions: raw prompts (text or token ids, one or a batch), legacy logprobs.

`echo` + `logprobs` return the prompt's own token logprobs (the first token has none), the
format lm-evaluation-harness `local-completions` reads for log-likelihood tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from tunesmith.inference.request import Logprob
from tunesmith.serve.errors import APIError
from tunesmith.serve.generation import (
    ChoiceDelta,
    ChoiceJob,
    Collected,
    EventsFn,
    choice_params,
    sampling_params,
    usage,
)
from tunesmith.serve.protocol import (
    CompletionChoice,
    CompletionLogprobs,
    CompletionRequest,
    CompletionResponse,
    new_id,
)
from tunesmith.serve.serving import collect, sse_response
from tunesmith.serve.state import ServerState


def _prompts(state: ServerState, prompt: str | list) -> list[tuple[str, list[int]]]:
    """(text, ids) of each prompt of the request."""
    if isinstance(prompt, str):
        prompt = [prompt]
    if not prompt:
        return [("", [])]
    if all(isinstance(p, int) for p in prompt):
        prompt = [prompt]
    vocab = state.engine.engine.vocab_size
    out = []
    for p in prompt:
        if isinstance(p, str):
            out.append((p, state.encode(p)))
            continue
        bad = [t for t in p if not 0 <= t < vocab]
        if bad:  # checked before decoding: the tokenizer overflows on ids outside int32
            raise APIError(
                400, f"token id {bad[0]} is outside the vocabulary [0, {vocab})", param="prompt"
            )
        out.append((state.tokenizer.decode(p), list(p)))
    return out


async def completion(state: ServerState, req: CompletionRequest, raw: Request) -> Response:
    adapter = state.adapter_for(req.model)
    prompts = _prompts(state, req.prompt)
    params = sampling_params(
        req,
        max_tokens=req.max_tokens,
        eos_id=state.tokenizer.eos_token_id,
        logprobs=req.logprobs,
        prompt_logprobs=req.logprobs if req.echo and req.logprobs is not None else None,
    )
    for _, ids in prompts:
        state.engine.check_request(ids, params, adapter)
    rid = new_id("cmpl")
    jobs = [
        ChoiceJob(
            p * req.n + k,
            f"{rid}-{p}-{k}",
            ids,
            choice_params(params, k),
            req.stop_strings(),
            adapter,
        )
        for p, (_, ids) in enumerate(prompts)
        for k in range(req.n)
    ]
    prompt_tokens = sum(len(ids) for _, ids in prompts)
    state.admission.admit(len(jobs))
    if req.stream:
        include_usage = req.stream_options is not None and req.stream_options.include_usage
        events = _chunks(rid, req, prompts, prompt_tokens, include_usage)
        return sse_response(state, rid, jobs, events, len(jobs))
    try:
        results = await collect(state, rid, jobs, raw)
    finally:
        state.admission.release(len(jobs))
    choices = [_choice(state, req, i, prompts[i // req.n], c) for i, c in sorted(results.items())]
    outputs = {i: c.output for i, c in results.items() if c.output is not None}
    body = CompletionResponse(
        id=rid, model=req.model, choices=choices, usage=usage(outputs, prompt_tokens)
    )
    return JSONResponse(body.model_dump())


def _choice(
    state: ServerState,
    req: CompletionRequest,
    index: int,
    prompt: tuple[str, list[int]],
    c: Collected,
) -> CompletionChoice:
    text = prompt[0] + c.text if req.echo else c.text
    logprobs = None
    if req.logprobs is not None:
        entries: list[Logprob | None] = []
        ids: list[int] = []
        if req.echo:
            entries.extend(c.output.prompt_logprobs or [None] * len(prompt[1]))
            ids.extend(prompt[1])
        entries.extend(c.logprobs)
        ids.extend(lp.token_id for lp in c.logprobs)
        logprobs = _legacy_logprobs(state, ids, entries)
    return CompletionChoice(
        index=index, text=text, logprobs=logprobs, finish_reason=c.finish_reason
    )


def _legacy_logprobs(
    state: ServerState, ids: list[int], entries: list[Logprob | None]
) -> CompletionLogprobs:
    decode = state.tokenizer.decode
    out = CompletionLogprobs()
    offset = 0
    for token_id, lp in zip(ids, entries, strict=True):
        piece = decode([token_id])
        out.tokens.append(piece)
        out.text_offset.append(offset)
        offset += len(piece)
        out.token_logprobs.append(None if lp is None else lp.logprob)
        out.top_logprobs.append(None if lp is None else {decode([t]): v for t, v in lp.top})
    return out


def _chunks(
    rid: str,
    req: CompletionRequest,
    prompts: list[tuple[str, list[int]]],
    prompt_tokens: int,
    include_usage: bool,
) -> EventsFn:
    def chunk(index: int, text: str, finish: str | None = None) -> dict:
        choice = CompletionChoice(index=index, text=text, finish_reason=finish)
        return CompletionResponse(id=rid, model=req.model, choices=[choice]).model_dump(
            exclude_none=True
        )

    async def events(deltas: AsyncIterator[ChoiceDelta]) -> AsyncIterator[dict]:
        if req.echo:
            for i in range(len(prompts) * req.n):
                yield chunk(i, prompts[i // req.n][0])
        outputs = {}
        async for d in deltas:
            if d.text or d.finish_reason is not None:
                yield chunk(d.index, d.text, d.finish_reason)
            if d.finish_reason is not None:
                outputs[d.index] = d.output
        if include_usage:
            last = CompletionResponse(
                id=rid, model=req.model, choices=[], usage=usage(outputs, prompt_tokens)
            )
            yield last.model_dump(exclude_none=True)

    return events
