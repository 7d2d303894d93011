"""The engine: token ids in, token ids out, with continuous batching over a slot KV cache.

Offline:

    engine = Engine(model, max_batch=32)
    outs = engine.generate(prompts, SamplingParams(max_tokens=32, stop_token_ids=[eos_id]))

Online (one thread owns the engine; `AsyncEngine` wraps this for asyncio):

    engine.add_request("r1", prompt_ids, params, adapter=None)   # queue it
    while engine.has_unfinished():
        for out in engine.step():        # one forward pass over every running sequence
            ...                          # out.token_ids so far; out.finish_reason at the end
    engine.abort("r1")                   # the next step() reports it with finish_reason "abort"

Each `step()`: the scheduler picks decode tokens and prompt chunks under the token budget,
the runner does one forward pass (writing keys/values into the requests' slots), the sampler
picks one token for each request whose known tokens are all cached, and finished requests
give their slot back at once. A request whose own sampling parameters break its row (a
non-finite distribution) ends alone with finish_reason "error" and `error` set; the other
rows of the step carry on.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import torch

from tunesmith.inference.kv_cache import SlotKVCache
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.request import Request, RequestOutput
from tunesmith.inference.runner import BASE, ModelRunner
from tunesmith.inference.sampling import sample, token_logprobs
from tunesmith.inference.scheduler import Chunk, Scheduler


class Engine:
    """Continuous-batching generation with a Hugging Face causal LM or a LoRA `PeftModel`.

    max_batch: KV slots, i.e. sequences decoded together. max_model_len: prompt plus
    generated tokens per sequence (default: the model's max_position_embeddings).
    token_budget: tokens per forward pass (decode tokens plus prompt chunks).
    batched_decode: the decoding sequences of a step share one padded SDPA call (default)
    instead of one call each (see `inference.attention`).

    Which weights a request runs (its `adapter`):

    - None (unnamed): the model as given, i.e. what `model(...)` computes. For a `PeftModel`
      that is the adapter active when the engine was built (`default_adapter`): its only
      adapter when it has one, so an unnamed request never silently runs the base weights;
    - an adapter name (one of `adapters`): that LoRA adapter;
    - `BASE` ("__base__"): a `PeftModel`'s base weights, adapters disabled (on a plain
      model the same as None).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        max_batch: int = 32,
        max_model_len: int | None = None,
        token_budget: int = 512,
        batched_decode: bool = True,
        seed: int = 0,
    ):
        model.eval()
        config = model.config
        limit = getattr(config, "max_position_embeddings", None) or 2048
        self.model = model
        self.max_batch = max_batch
        self.max_model_len = min(max_model_len or limit, limit)
        self.vocab_size = config.vocab_size
        self.cache = SlotKVCache(config.num_hidden_layers, max_batch, self.max_model_len)
        self.scheduler = Scheduler(self.cache, max(token_budget, max_batch))
        self.runner = ModelRunner(model, self.cache, batched_decode=batched_decode)
        self.requests: dict[str, Request] = {}
        self._ended: list[Request] = []  # finished outside a step (abort), reported next step
        self._rng = random.Random(seed)
        self._device = next(model.parameters()).device

    @property
    def adapters(self) -> tuple[str, ...]:
        """Names of the LoRA adapters a request may pick (empty for a plain model)."""
        return self.runner.adapters

    @property
    def default_adapter(self) -> str | None:
        """The adapter an unnamed request runs: a `PeftModel`'s active adapter (None for a
        plain model)."""
        return self.runner.default_adapter

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

    # -- requests ----------------------------------------------------------------------------

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

    def add_request(
        self,
        request_id: str,
        prompt_token_ids: Sequence[int],
        params: SamplingParams,
        adapter: str | None = None,
    ) -> None:
        """Queue a request. Raises InvalidRequestError (nothing queued) when it cannot run."""
        if request_id in self.requests:
            raise ValueError(f"request id '{request_id}' is already in the engine")
        max_tokens = self.check_request(prompt_token_ids, params, adapter)
        generator = None
        if not params.greedy:
            generator = torch.Generator(device="cpu")
            seed = params.seed if params.seed is not None else self._seed()
            generator.manual_seed(seed % 2**64)  # torch takes [0, 2**64); any int is welcome
        req = Request(
            request_id,
            list(prompt_token_ids),
            params,
            max_tokens,
            adapter=self.resolve_adapter(adapter),
            generator=generator,
        )
        if params.prompt_logprobs is not None:
            req.prompt_logprobs.append(None)  # the first prompt token has no context
        self.requests[request_id] = req
        self.scheduler.add(req)

    def abort(self, request_id: str) -> bool:
        """Cancel a request and free its slot; False when it is unknown or already over."""
        req = self.requests.get(request_id)
        if req is None or req.finished:
            return False
        self._end(req, "abort")
        self._ended.append(req)
        return True

    def has_unfinished(self) -> bool:
        return bool(self.requests) or bool(self._ended)

    @property
    def num_running(self) -> int:
        return self.scheduler.num_running

    @property
    def num_waiting(self) -> int:
        return self.scheduler.num_waiting

    # -- the loop ----------------------------------------------------------------------------

    def step(self) -> list[RequestOutput]:
        """One forward pass; outputs of requests that got a token or ended since last step."""
        changed: list[Request] = self._ended
        self._ended = []
        plan = self.scheduler.schedule()
        if plan.chunks:
            results = self.runner.execute(plan.chunks)
            now = time.monotonic()
            to_sample: list[tuple[Chunk, torch.Tensor]] = []
            for chunk, logits in zip(plan.chunks, results, strict=True):
                req, completes = chunk.request, chunk.completes_prompt
                if logits.prompt is not None:
                    self._score_prompt(req, logits.prompt, logits.first_scored)
                req.num_computed += chunk.num_tokens
                if logits.last is not None:
                    to_sample.append((chunk, logits.last))
                elif completes:  # max_tokens reached (e.g. 0: scoring only)
                    self._end(req, "length")
                    changed.append(req)
            if to_sample:
                rows = torch.stack([logits for _, logits in to_sample])
                picked = sample(rows, [c.request for c, _ in to_sample])
                for (chunk, _), result in zip(to_sample, picked, strict=True):
                    if isinstance(result, InvalidRequestError):  # this request alone fails
                        chunk.request.error = result
                        self._end(chunk.request, "error")
                    else:
                        self._append(chunk.request, *result, now)
                    changed.append(chunk.request)
        return [r.snapshot() for r in changed]

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        params: SamplingParams | Sequence[SamplingParams],
        adapters: Sequence[str | None] | None = None,
    ) -> list[RequestOutput]:
        """Run every prompt to completion; outputs in input order."""
        all_params = [params] * len(prompts) if isinstance(params, SamplingParams) else params
        names = adapters if adapters is not None else [None] * len(prompts)
        for p, sp, name in zip(prompts, all_params, names, strict=True):
            self.check_request(p, sp, name)  # all or nothing: validate before queueing
        ids = [f"generate-{id(self)}-{i}" for i in range(len(prompts))]
        for rid, p, sp, name in zip(ids, prompts, all_params, names, strict=True):
            self.add_request(rid, p, sp, name)
        final: dict[str, RequestOutput] = {}
        try:
            while len(final) < len(ids):
                for out in self.step():
                    if out.finished:
                        final[out.request_id] = out
        finally:
            for rid in ids:
                if rid not in final:
                    self.abort(rid)
            if any(rid not in final for rid in ids):
                self.step()  # report (and drop) the aborted ones
        return [final[rid] for rid in ids]

    # -- helpers -----------------------------------------------------------------------------

    def _append(self, req: Request, token: int, lp: object, now: float) -> None:
        m = req.metrics
        if m.first_token is None:
            m.first_token = now
        m.last_token = now
        if token in req.params.stop_token_ids:
            self._end(req, "stop", token)
            return
        req.output_token_ids.append(token)
        if lp is not None:
            req.logprobs.append(lp)
        if len(req.output_token_ids) >= req.max_tokens:
            self._end(req, "length")

    def _score_prompt(self, req: Request, logits: torch.Tensor, first: int) -> None:
        targets = req.prompt_token_ids[first : first + logits.shape[0]]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        k = req.params.prompt_logprobs or 0
        req.prompt_logprobs.extend(token_logprobs(logprobs, targets, k))

    def _end(self, req: Request, reason: str, stop_token_id: int | None = None) -> None:
        req.finish(reason, stop_token_id)  # type: ignore[arg-type]
        self.scheduler.finish(req)
        del self.requests[req.request_id]

    def _seed(self) -> int:
        return self._rng.getrandbits(63)
