"""Everything a request handler needs: engine, tokenizer, served model names, limits."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from tunesmith.inference.async_engine import AsyncEngine
from tunesmith.serve.admission import Admission
from tunesmith.serve.errors import APIError
from tunesmith.serve.metrics import ServerMetrics
from tunesmith.serve.prompts import ChatRenderError, render_chat
from tunesmith.serve.protocol import ChatMessage
from tunesmith.serve.shutdown import OpenRequests


@dataclass
class ServerSettings:
    """Server limits. capacity = max_batch + max_queue requests in flight."""

    api_key: str | None = None
    """when set, every route except /health, /ready and /metrics needs `Authorization: Bearer
    KEY` (the scheme in any case; any other scheme, or none, is refused)"""
    max_queue: int = 64
    """requests that may wait for a KV slot; more get 429"""
    request_timeout_s: float | None = 600.0
    """a request running longer is aborted (504, or an error event when streaming)"""
    drain_seconds: float = 30.0
    """on SIGTERM: how long in-flight requests may finish while new ones get 503"""


@dataclass
class ServerState:
    engine: AsyncEngine
    tokenizer: PreTrainedTokenizerBase
    models: dict[str, str | None]
    """served model name -> engine adapter name (None: the model as loaded; `BASE`: a
    PeftModel's base weights)"""
    settings: ServerSettings = field(default_factory=ServerSettings)
    admission: Admission = field(init=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    """the server's event loop, once it runs (admission and streams live on it)"""
    metrics: ServerMetrics = field(init=False)
    open_requests: OpenRequests = field(default_factory=OpenRequests, init=False)
    """generation requests being answered (the drain cuts them at its deadline)"""

    def __post_init__(self) -> None:
        e = self.engine.engine
        self.admission = Admission(e.max_batch + self.settings.max_queue)
        self.metrics = ServerMetrics(next(iter(self.models)))
        self.metrics.bind(self.engine, self.admission)
        self.engine.on_step = self.metrics.observe_step

    @property
    def max_model_len(self) -> int:
        return self.engine.engine.max_model_len

    def adapter_for(self, model: str) -> str | None:
        """The adapter a request's `model` names; 404 for a name not served."""
        if model not in self.models:
            raise APIError(
                404,
                f"The model '{model}' does not exist (served: {', '.join(self.models)})",
                param="model",
                code="model_not_found",
            )
        return self.models[model]

    def authorized(self, header: str | None) -> bool:
        key = self.settings.api_key
        if key is None:
            return True
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer":  # RFC 9110: the scheme is case-insensitive
            return False
        return hmac.compare_digest(token.strip().encode(), key.encode())

    def render_chat(
        self,
        messages: list[ChatMessage],
        add_generation_prompt: bool,
        tools: list[dict] | None = None,
    ) -> str:
        """The prompt text of a chat request; 400 when the template refuses it."""
        dicts = []
        for m in messages:
            d: dict = {"role": m.role, "content": m.text()}
            if m.reasoning_content is not None:
                d["reasoning_content"] = m.reasoning_content
            if m.tool_calls:
                d["tool_calls"] = [c.model_dump(exclude_none=True) for c in m.tool_calls]
            if m.tool_call_id is not None:
                d["tool_call_id"] = m.tool_call_id
            dicts.append(d)
        try:
            return render_chat(self.tokenizer, dicts, add_generation_prompt, tools)
        except ChatRenderError as e:
            raise APIError(400, str(e), param="messages") from e

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)
