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

from tunesmith.inference.checks import RequestLimits
from tunesmith.inference.grammar import EXTRA, Constraint, GrammarCompiler
from tunesmith.inference.kv_cache import SlotKVCache
from tunesmith.inference.models import (
    NativeCausalLM,
    build_native,
    compile_native,
    native_unsupported,
)
from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.prefix_cache import PrefixCache
from tunesmith.inference.request import Request, RequestOutput
from tunesmith.inference.runner import ModelRunner
from tunesmith.inference.sampling import sample, token_logprobs
from tunesmith.inference.scheduler import Chunk, Scheduler


class Engine:
    """Continuous-batching generation with a Hugging Face causal LM or a LoRA `PeftModel`.

    max_batch: KV slots, i.e. sequences decoded together. max_model_len: prompt plus
    generated tokens per sequence (default: the model's max_position_embeddings).
    token_budget: tokens per forward pass (decode tokens plus prompt chunks).
    batched_decode: the decoding sequences of a step share one padded SDPA call (default)
    instead of one call each (see `inference.attention`).
    forward: "auto" (default) runs the engine's own forward (`inference.models`: llama,
    qwen2, deepseek_v3 with the MLA latent cache) where the model has one, else the HF
    forward; "hf" always the HF forward; "native" the engine's own or ValueError.
    compile_buckets: with the engine's own forward, `torch.compile` its layers for steps of
    up to these many token rows (decode batch sizes), warmed here; `startup_compile_s` says
    how long that took. Empty (default): eager.
    prefix_caching: keep the keys/values of prompt blocks (`prefix_block_size` tokens) after
    their request and load them for later prompts with the same prefix
    (`inference.prefix_cache`), up to `prefix_cache_blocks` blocks, LRU.
    grammar: builds the per-request constraint of a request with `params.guide` (structured
    output, `inference.grammar`); None: such requests are refused with InvalidRequestError.

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
        forward: str = "auto",
        compile_buckets: Sequence[int] = (),
        prefix_caching: bool = False,
        prefix_block_size: int = 16,
        prefix_cache_blocks: int = 4096,
        grammar: GrammarCompiler | None = None,
    ):
        model.eval()
        config = model.config
        limit = getattr(config, "max_position_embeddings", None) or 2048
        self.model = model
        self.max_batch = max_batch
        self.max_model_len = min(max_model_len or limit, limit)
        self.vocab_size = config.vocab_size
        self.cache = SlotKVCache(config.num_hidden_layers, max_batch, self.max_model_len)
        self.prefix_cache = (
            PrefixCache(self.cache, prefix_block_size, prefix_cache_blocks)
            if prefix_caching
            else None
        )
        self.scheduler = Scheduler(self.cache, max(token_budget, max_batch), self.prefix_cache)
        self.prefill_tokens_computed = 0
        """prompt tokens run through the model (prefix-cache hits excluded)"""
        self.native = _native_forward(model, forward)
        self.startup_compile_s = 0.0
        if compile_buckets:
            if self.native is None:
                raise ValueError(
                    "compile_buckets needs the engine's own forward: "
                    f"{native_unsupported(model) or 'forward=hf was asked'}"
                )
            self.startup_compile_s = compile_native(self.native, tuple(compile_buckets))
        self.runner = ModelRunner(
            model, self.cache, batched_decode=batched_decode, native=self.native
        )
        self.limits = RequestLimits(
            self.vocab_size, self.max_model_len, self.runner.adapters, self.runner.default_adapter
        )
        self.grammar = grammar
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
        return self.limits.resolve_adapter(adapter)

    # -- requests ----------------------------------------------------------------------------

    def check_request(
        self, prompt_token_ids: Sequence[int], params: SamplingParams, adapter: str | None = None
    ) -> int:
        """Validate a request without queueing it; returns its resolved max_tokens."""
        return self.limits.check_request(prompt_token_ids, params, adapter)

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
            seed = params.seed if params.seed is not None else self._seed()
            generator = random.Random(seed % 2**64)  # seeds modulo 2**64; one draw per token
        constraint = self._constraint(params)
        req = Request(
            request_id,
            list(prompt_token_ids),
            params,
            max_tokens,
            adapter=self.resolve_adapter(adapter),
            generator=generator,
            constraint=constraint,
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
                if req.in_prefill:
                    self.prefill_tokens_computed += min(
                        chunk.num_tokens, len(req.prompt_token_ids) - req.num_computed
                    )
                req.num_computed += chunk.num_tokens
                if self.prefix_cache is not None and ran_prompt_tokens(req, chunk):
                    self.prefix_cache.store(req)
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
        c = req.constraint
        if c is not None and not c.accept(token):  # the mask allowed it: only a bug gets here
            req.error = InvalidRequestError(
                f"token {token} broke the '{c.param}' constraint: {c.error}", param=c.param
            )
            self._end(req, "error")
        elif c is not None and c.is_finished:  # the output is complete: nothing may follow
            self._end(req, "stop")
        elif len(req.output_token_ids) >= req.max_tokens:
            self._end(req, "length")

    def _constraint(self, params: SamplingParams) -> Constraint | None:
        if params.guide is None:
            return None
        if self.grammar is None:
            raise InvalidRequestError(
                f"this engine was built without a grammar compiler, so '{params.guide.param}' "
                f"(structured output) cannot run; build it with Engine(..., grammar="
                f"GrammarCompiler.from_tokenizer(tokenizer, vocab_size)) ({EXTRA})",
                param=params.guide.param,
                code="unsupported_parameter",
            )
        return self.grammar.constraint(params.guide)

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


def _native_forward(model: torch.nn.Module, forward: str) -> NativeCausalLM | None:
    if forward not in ("auto", "hf", "native"):
        raise ValueError(f"forward must be 'auto', 'hf' or 'native', got {forward!r}")
    if forward == "hf":
        return None
    native = build_native(model)
    if native is None and forward == "native":
        raise ValueError(
            f"the engine has no own forward for this model: {native_unsupported(model)}"
        )
    return native


def ran_prompt_tokens(req: Request, chunk: Chunk) -> bool:
    """This step's chunk ran prompt tokens (so new prompt blocks may be complete)."""
    return req.num_computed - chunk.num_tokens < len(req.prompt_token_ids)
