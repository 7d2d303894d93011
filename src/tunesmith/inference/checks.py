"""Request validation against an engine's fixed limits (vocabulary, context, adapters).

Shared by the in-process `Engine` and the front end of the engine-core process, which
validates before anything crosses the process boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tunesmith.inference.params import InvalidRequestError, SamplingParams

BASE = "__base__"


@dataclass(frozen=True)
class RequestLimits:
    """What a request is checked against; `adapters`/`default_adapter` as `Engine`'s."""

    vocab_size: int
    max_model_len: int
    adapters: tuple[str, ...] = ()
    default_adapter: str | None = None

    def resolve_adapter(self, adapter: str | None) -> str | None:
        """The adapter a request naming `adapter` runs (see the class doc); raises
        InvalidRequestError for a name the model does not have."""
        if adapter is None:
            return self.default_adapter
        if adapter == BASE:
            return BASE if self.adapters else None
        if adapter not in self.adapters:
            raise InvalidRequestError(
                f"unknown adapter '{adapter}' (loaded: {', '.join(self.adapters) or 'none'})",
                param="model",
                code="model_not_found",
            )
        return adapter

    def check_request(
        self, prompt_token_ids: Sequence[int], params: SamplingParams, adapter: str | None = None
    ) -> int:
        """Validate a request without queueing it; returns its resolved max_tokens."""
        n = len(prompt_token_ids)
        if n == 0:
            raise InvalidRequestError("the prompt is empty", param="prompt")
        bad = [t for t in prompt_token_ids if not 0 <= t < self.vocab_size]
        if bad:
            raise InvalidRequestError(
                f"token id {bad[0]} is outside the vocabulary [0, {self.vocab_size})",
                param="prompt",
            )
        bad = [t for t in params.logit_bias if t >= self.vocab_size]
        if bad:
            raise InvalidRequestError(
                f"'logit_bias' token id {bad[0]} is outside the vocabulary [0, {self.vocab_size})",
                param="logit_bias",
            )
        self.resolve_adapter(adapter)
        if params.guide is not None:
            from tunesmith.inference.grammar import check_guide

            check_guide(params.guide)
        wanted = params.max_tokens if params.max_tokens is not None else 0
        if n + wanted > self.max_model_len or n >= self.max_model_len and params.max_tokens != 0:
            raise InvalidRequestError(
                f"This model's maximum context length is {self.max_model_len} tokens. "
                f"However, you requested {n + wanted} tokens ({n} in the prompt, {wanted} in "
                "the completion). Please reduce the length of the prompt or completion.",
                param="max_tokens" if n < self.max_model_len else "prompt",
                code="context_length_exceeded",
            )
        if params.max_tokens is None:
            return self.max_model_len - n
        return params.max_tokens
