"""Thin HTTP routes: parse, hand to the serving logic, answer. Each declares what it may
answer (`serve.openapi`), so `/openapi.json` describes the server as it behaves."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tunesmith.inference import BASE
from tunesmith.serve.chat import chat_completion
from tunesmith.serve.completions import completion
from tunesmith.serve.errors import APIError
from tunesmith.serve.openapi import ERRORS_GATED, ERRORS_GENERATION, ERRORS_TOKENS, SSE, errors
from tunesmith.serve.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    DetokenizeRequest,
    DetokenizeResponse,
    Health,
    ModelCard,
    ModelList,
    Ready,
    TokenizeRequest,
    TokenizeResponse,
)
from tunesmith.serve.state import ServerState


def _state(request: Request) -> ServerState:
    return request.app.state.tunesmith


router = APIRouter()


@router.post(
    "/v1/chat/completions",
    response_model=ChatCompletionResponse,
    responses={200: {"content": {"text/event-stream": SSE}}, **ERRORS_GENERATION},
)
async def chat(body: ChatCompletionRequest, request: Request) -> Response:
    return await chat_completion(_state(request), body, request)


@router.post(
    "/v1/completions",
    response_model=CompletionResponse,
    responses={200: {"content": {"text/event-stream": SSE}}, **ERRORS_GENERATION},
)
async def completions(body: CompletionRequest, request: Request) -> Response:
    return await completion(_state(request), body, request)


@router.get("/v1/models", responses=ERRORS_GATED)
async def models(request: Request) -> ModelList:
    state = _state(request)
    base = next(iter(state.models))
    cards = [
        ModelCard(
            id=name,
            root=name if adapter in (None, BASE) else adapter,
            parent=None if name == base else base,
            max_model_len=state.max_model_len,
        )
        for name, adapter in state.models.items()
    ]
    return ModelList(data=cards)


@router.post("/tokenize", responses=ERRORS_TOKENS)
async def tokenize(body: TokenizeRequest, request: Request) -> TokenizeResponse:
    state = _state(request)
    if body.model is not None:
        state.adapter_for(body.model)
    if (body.prompt is None) == (body.messages is None):
        raise APIError(400, "give exactly one of 'prompt' and 'messages'", param="prompt")
    if body.messages is not None:
        text = state.render_chat(body.messages, body.add_generation_prompt)
        ids = state.encode(text)
    else:
        ids = state.tokenizer.encode(body.prompt, add_special_tokens=body.add_special_tokens)
    return TokenizeResponse(tokens=ids, count=len(ids), max_model_len=state.max_model_len)


@router.post("/detokenize", responses=ERRORS_TOKENS)
async def detokenize(body: DetokenizeRequest, request: Request) -> DetokenizeResponse:
    state = _state(request)
    if body.model is not None:
        state.adapter_for(body.model)
    vocab = len(state.tokenizer)
    bad = [t for t in body.tokens if not 0 <= t < vocab]
    if bad:
        raise APIError(400, f"token id {bad[0]} is outside [0, {vocab})", param="tokens")
    return DetokenizeResponse(prompt=state.tokenizer.decode(body.tokens))


@router.get("/health")
async def health() -> Health:
    return Health()


@router.get("/ready", response_model=Ready, responses=errors(503))
async def ready(request: Request) -> JSONResponse:
    state = _state(request)
    if state.admission.draining:
        return APIError(503, "the server is shutting down", code="server_draining").response()
    return JSONResponse(Ready(in_flight=state.admission.in_flight).model_dump())


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
