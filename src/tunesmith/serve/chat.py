"""POST /v1/chat/completions: render the chat, generate, split reasoning from content."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from tunesmith.inference.request import Logprob
from tunesmith.serve.generation import (
    ChoiceDelta,
    ChoiceJob,
    EventsFn,
    choice_params,
    sampling_params,
    usage,
)
from tunesmith.serve.prompts import opens_reasoning
from tunesmith.serve.protocol import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChoiceLogprobs,
    Delta,
    TokenLogprob,
    TopLogprob,
    new_id,
)
from tunesmith.serve.serving import collect, sse_response
from tunesmith.serve.state import ServerState
from tunesmith.serve.text import ReasoningSplit
from tunesmith.serve.tool_parser import ToolCallStream, parse_tool_calls
from tunesmith.serve.tools import (
    ToolPlan,
    delta_calls,
    finish_reason,
    message_calls,
    plan_tools,
)


async def chat_completion(state: ServerState, req: ChatCompletionRequest, raw: Request) -> Response:
    adapter = state.adapter_for(req.model)
    plan = plan_tools(req)
    prompt = state.render_chat(req.messages, req.add_generation_prompt, plan.tools) + plan.forced
    prompt_ids = state.encode(prompt)
    max_tokens = req.max_completion_tokens
    if max_tokens is None:
        max_tokens = req.max_tokens
    params = sampling_params(
        req,
        max_tokens=max_tokens,
        eos_id=state.tokenizer.eos_token_id,
        logprobs=(req.top_logprobs or 0) if req.logprobs else None,
    )
    state.engine.check_request(prompt_ids, params, adapter)
    rid = new_id("chatcmpl")
    jobs = [
        ChoiceJob(
            i, f"{rid}-{i}", prompt_ids, choice_params(params, i), req.stop_strings(), adapter
        )
        for i in range(req.n)
    ]
    reasoning_open = opens_reasoning(prompt)
    state.admission.admit(req.n)
    if req.stream:
        include_usage = req.stream_options is not None and req.stream_options.include_usage
        events = _chunks(
            state, rid, req.model, len(prompt_ids), jobs, reasoning_open, include_usage, plan
        )
        return sse_response(state, rid, jobs, events, req.n)
    try:
        results = await collect(state, rid, jobs, raw)
    finally:
        state.admission.release(req.n)
    choices = []
    for i, c in sorted(results.items()):
        reasoning, content = ReasoningSplit(reasoning_open).split(c.text)
        calls, finish = None, c.finish_reason
        if plan.parse:
            content, parsed = parse_tool_calls(plan.forced + content)
            calls = message_calls(parsed, plan.parallel)
            finish = finish_reason(finish, calls is not None)
        message = AssistantMessage(
            content=content if content or not calls else None,
            reasoning_content=reasoning,
            tool_calls=calls,
        )
        choices.append(
            ChatChoice(
                index=i,
                message=message,
                logprobs=_logprobs(state, c.logprobs) if req.logprobs else None,
                finish_reason=finish,
            )
        )
    outputs = {i: c.output for i, c in results.items() if c.output is not None}
    body = ChatCompletionResponse(
        id=rid, model=req.model, choices=choices, usage=usage(outputs, len(prompt_ids))
    )
    return JSONResponse(body.model_dump())


def _chunks(
    state: ServerState,
    rid: str,
    model: str,
    prompt_tokens: int,
    jobs: list[ChoiceJob],
    reasoning_open: bool,
    include_usage: bool,
    plan: ToolPlan,
) -> EventsFn:
    """SSE events: a role chunk per choice, content/reasoning/tool-call deltas, finish, then
    usage."""

    def chunk(index: int, delta: Delta, **kw: object) -> dict:
        c = ChatCompletionChunk(
            id=rid, model=model, choices=[ChatChunkChoice(index=index, delta=delta, **kw)]
        )
        return c.model_dump(exclude_none=True)

    async def events(deltas: AsyncIterator[ChoiceDelta]) -> AsyncIterator[dict]:
        splits = {j.index: ReasoningSplit(reasoning_open) for j in jobs}
        texts = {j.index: "" for j in jobs}
        contents = {j.index: plan.forced for j in jobs}  # content so far, for the tool parser
        streams = {j.index: ToolCallStream() for j in jobs}
        outputs = {}
        for j in jobs:
            yield chunk(j.index, Delta(role="assistant", content=""))
        async for d in deltas:
            final = d.finish_reason is not None
            texts[d.index] += d.text
            reasoning, content = splits[d.index].update(texts[d.index], final=final)
            calls = []
            if plan.parse:
                contents[d.index] += content
                content, parsed = streams[d.index].update(contents[d.index], final=final)
                calls = delta_calls(parsed, plan.parallel)
            logprobs = _logprobs(state, d.logprobs) if d.logprobs else None
            if reasoning or content or logprobs or calls:
                delta = Delta(
                    reasoning_content=reasoning or None,
                    content=content or None,
                    tool_calls=calls or None,
                )
                yield chunk(d.index, delta, logprobs=logprobs)
            if final:
                outputs[d.index] = d.output
                reason = finish_reason(d.finish_reason, streams[d.index].called)
                yield chunk(d.index, Delta(), finish_reason=reason)
        if include_usage:
            last = ChatCompletionChunk(
                id=rid, model=model, choices=[], usage=usage(outputs, prompt_tokens)
            )
            yield last.model_dump(exclude_none=True)

    return events


def _logprobs(state: ServerState, logprobs: list[Logprob]) -> ChoiceLogprobs:
    def top(token_id: int, lp: float) -> TopLogprob:
        text = state.tokenizer.decode([token_id])
        return TopLogprob(token=text, logprob=lp, bytes=list(text.encode()))

    content = []
    for lp in logprobs:
        head = top(lp.token_id, lp.logprob)
        tops = [top(t, v) for t, v in lp.top]
        content.append(TokenLogprob(**head.model_dump(), top_logprobs=tops))
    return ChoiceLogprobs(content=content)
