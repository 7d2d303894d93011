"""Per-request sampling parameters, validated on construction (token ids only, no strings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tunesmith.errors import TunesmithError
from tunesmith.inference.guide import Guide

MAX_LOGPROBS = 20
GREEDY_BELOW = 1e-5
"""a temperature below this is greedy: dividing logits by it would overflow float32"""


class InvalidRequestError(TunesmithError):
    """A request the engine cannot run: bad sampling values, empty or too long prompt.

    `param` names the offending field (the server puts it in the OpenAI error body);
    `code` is a machine-readable reason such as "context_length_exceeded".
    """

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.param, self.code = param, code


@dataclass
class SamplingParams:
    """How to pick each next token, and when to stop.

    temperature 0 (or below `GREEDY_BELOW`) is greedy (argmax after penalties). Logprobs are of the model's raw
    distribution (log-softmax of the logits, before penalties, temperature and truncation).
    """

    max_tokens: int | None = 16
    """tokens to generate at most (None: up to the context length); 0 with prompt_logprobs
    scores the prompt only"""
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0: no top-k truncation"""
    repetition_penalty: float = 1.0
    """HF/CTRL style over prompt and output tokens: positive logits / p, negative * p"""
    frequency_penalty: float = 0.0
    """OpenAI style over output tokens: logit -= frequency_penalty * count"""
    presence_penalty: float = 0.0
    """OpenAI style over output tokens: logit -= presence_penalty if the token occurred"""
    seed: int | None = None
    """same seed, same prompt, same parameters -> same tokens"""
    stop_token_ids: list[int] = field(default_factory=list)
    """generation stops at any of these; the stop token is not part of the output"""
    logprobs: int | None = None
    """None: no logprobs; k >= 0: the sampled token's logprob and the k most likely"""
    prompt_logprobs: int | None = None
    """None: none; k >= 0: logprob of every prompt token (the first has none) and top k"""
    logit_bias: dict[int, float] = field(default_factory=dict)
    """token id -> value in [-100, 100] added to its logit before penalties and sampling
    (OpenAI's logit_bias; -100 bans a token, 100 all but forces it)"""
    guide: Guide | None = None
    """structured output: the output must match this JSON schema / regex / choice / grammar
    (`inference.grammar` masks the row before penalties and sampling; the engine stops the
    request with "stop" once the output is complete)"""

    def __post_init__(self) -> None:
        n = self.max_tokens
        _check(n is None or n >= 0, self, "max_tokens", ">= 0")
        _check(0.0 <= self.temperature <= 100.0, self, "temperature", "in [0, 100]")
        _check(0.0 < self.top_p <= 1.0, self, "top_p", "in (0, 1]")
        _check(self.top_k >= 0, self, "top_k", ">= 0 (0 disables it)")
        _check(self.repetition_penalty > 0.0, self, "repetition_penalty", "> 0")
        _check(-2.0 <= self.frequency_penalty <= 2.0, self, "frequency_penalty", "in [-2, 2]")
        _check(-2.0 <= self.presence_penalty <= 2.0, self, "presence_penalty", "in [-2, 2]")
        for name in ("logprobs", "prompt_logprobs"):
            k = getattr(self, name)
            _check(k is None or 0 <= k <= MAX_LOGPROBS, self, name, f"in [0, {MAX_LOGPROBS}]")
        self.stop_token_ids = list(self.stop_token_ids)
        self.logit_bias = {int(t): float(v) for t, v in self.logit_bias.items()}
        for token, bias in self.logit_bias.items():
            if token < 0 or not -100.0 <= bias <= 100.0:
                raise InvalidRequestError(
                    f"'logit_bias' maps token ids >= 0 to values in [-100, 100], got "
                    f"{token}: {bias}",
                    param="logit_bias",
                )

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW

    def changed(self) -> list[str]:
        """Names of the logit-changing parameters set away from their neutral value, those
        that can make logits non-finite first (greedy ignores temperature and truncation)."""
        neutral = {
            "repetition_penalty": 1.0,
            "frequency_penalty": 0.0,
            "presence_penalty": 0.0,
            "logit_bias": {},
        }
        if not self.greedy:
            neutral |= {"temperature": 1.0, "top_p": 1.0, "top_k": 0}
        return [name for name, value in neutral.items() if getattr(self, name) != value]

    @property
    def adjusts_logits(self) -> bool:
        """Penalties, a logit bias or a guide change the logits before a token is picked."""
        return self.penalized or bool(self.logit_bias) or self.guide is not None

    @property
    def penalized(self) -> bool:
        return (
            self.repetition_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
        )


def _check(ok: bool, params: SamplingParams, name: str, expected: str) -> None:
    if not ok:
        got = getattr(params, name)
        raise InvalidRequestError(f"'{name}' must be {expected}, got {got!r}", param=name)
