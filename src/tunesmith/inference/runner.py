"""One forward pass over a scheduled batch: token rows in, the logits that are needed out.

The batch is flat: T token rows of length 1 (`input_ids` `[T, 1]`), each with its own
position, so decode tokens and prompt chunks of many sequences share one forward pass and
no padding is computed. Only rows that are sampled from (the last row of a sequence whose
known tokens are now all cached) or scored (prompt logprobs) reach the LM head.

Multi-LoRA: a `peft.PeftModel` holds every adapter over one copy of the base weights. A
step whose requests use several adapters runs one forward pass per adapter group (the
adapter activated with `set_adapter`, the base (`BASE`) with `disable_adapter`, None: the
adapter active when the runner was built), all writing into the same cache. peft's per-row mixed batches are not used: they cannot work here, since MLA
applies `kv_b_proj` to the cached latents of whole sequences, not to the step's token rows,
and peft refuses them for DoRA and for LoRA on expert parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunesmith.inference.attention import use_slot_attention
from tunesmith.inference.checks import BASE
from tunesmith.inference.kv_cache import SlotKVCache, StepLayout
from tunesmith.inference.models import NativeCausalLM
from tunesmith.inference.scheduler import Chunk


@dataclass
class ChunkLogits:
    """Logits of a chunk's rows: `last` `[vocab]` when it samples, `prompt` `[m, vocab]`
    for prompt logprobs (row j predicts prompt token `first_scored + j`)."""

    last: torch.Tensor | None = None
    prompt: torch.Tensor | None = None
    first_scored: int = 0


class ModelRunner:
    """Runs a Hugging Face causal LM (or a `PeftModel` of LoRA adapters) over slot cache."""

    def __init__(
        self,
        model: torch.nn.Module,
        cache: SlotKVCache,
        batched_decode: bool = True,
        native: NativeCausalLM | None = None,
    ):
        self.model, self.cache, self.batched_decode = model, cache, batched_decode
        self.native = native
        """the engine's own forward over the model's weights (None: the HF forward)"""
        self._device = next(model.parameters()).device
        self.adapters: tuple[str, ...] = tuple(getattr(model, "peft_config", None) or {})
        self.default_adapter: str | None = _active_adapter(model) if self.adapters else None
        """what `model(...)` runs: the PeftModel's active adapter (None: a plain model)"""
        self.forward_passes = 0
        """forward passes run so far (one per adapter group per step)"""

    def execute(self, chunks: list[Chunk]) -> list[ChunkLogits]:
        """Forward the chunks' tokens; write their keys/values; return logits per chunk."""
        if not self.adapters or self.native is not None:  # the own forward batches adapters
            return self._forward(chunks, None)
        results: dict[int, ChunkLogits] = {}
        for name in dict.fromkeys(c.request.adapter for c in chunks):
            group = [i for i, c in enumerate(chunks) if c.request.adapter == name]
            logits = self._forward([chunks[i] for i in group], name or self.default_adapter)
            results.update(zip(group, logits, strict=True))
        return [results[i] for i in range(len(chunks))]

    @torch.inference_mode()
    def _forward(self, chunks: list[Chunk], adapter: str | None) -> list[ChunkLogits]:
        device = self._device
        layout = StepLayout.build(
            [c.request.slot for c in chunks],
            [c.request.num_computed for c in chunks],
            [c.num_tokens for c in chunks],
            device=device,
        )
        ids: list[int] = []
        keep: list[bool] = []
        keeps = [_rows_to_keep(c) for c in chunks]
        for c, rows in zip(chunks, keeps, strict=True):
            ids.extend(c.request.token_ids(c.request.num_computed, c.num_tokens))
            keep.extend(rows)
        self.cache.reserve(max(layout.kv_lens))
        self.cache.layout = layout
        try:
            self.forward_passes += 1
            if self.native is not None:
                rows = None
                if self.native.adapters is not None:
                    rows = self.native.adapters.rows(
                        [a for c in chunks for a in [c.request.adapter] * c.num_tokens],
                        device,
                        uniform=not self.native.buckets,  # compiled graphs take per-row rows
                    )
                _run_pre_hooks(self.model)
                logits = self.native.forward(
                    torch.tensor(ids, dtype=torch.long, device=device),
                    layout.token_positions,
                    layout,
                    self.cache,
                    torch.tensor(keep, device=device),
                    self.batched_decode,
                    rows,
                )
                return _split_logits(chunks, keeps, logits)
            with use_slot_attention(self.model), _adapter(self.model, adapter):
                out = self.model(
                    input_ids=torch.tensor(ids, dtype=torch.long, device=device).view(-1, 1),
                    position_ids=layout.token_positions.view(-1, 1),
                    past_key_values=self.cache,
                    use_cache=True,
                    logits_to_keep=torch.tensor(keep, device=device).view(-1, 1),
                    slot_layout=layout,
                    batched_decode=self.batched_decode,
                )
        finally:
            self.cache.layout = None
        return _split_logits(chunks, keeps, out.logits.reshape(-1, out.logits.shape[-1]))


def _run_pre_hooks(model: torch.nn.Module) -> None:
    """Forward pre-hooks registered on the HF model (instrumentation, fault injection) run
    before each of the engine's own forward passes too, as they would before `model(...)`
    (called with no positional inputs: the token rows are not the HF model's inputs)."""
    for hook in list(model._forward_pre_hooks.values()):
        hook(model, ())


def _active_adapter(model: torch.nn.Module) -> str:
    """The one adapter a PeftModel runs; ValueError for adapters the engine cannot run."""
    kinds = {n: c for n, c in model.peft_config.items() if c.is_prompt_learning}
    if kinds:
        names = ", ".join(
            f"{n} ({getattr(c.peft_type, 'value', c.peft_type)})" for n, c in kinds.items()
        )
        raise ValueError(
            f"the inference engine cannot run prompt-learning adapters: {names} (they feed "
            "their own past_key_values); use Hugging Face generate for them"
        )
    active = list(model.active_adapters)
    if len(active) != 1:
        raise ValueError(
            f"the PeftModel has {len(active)} active adapters {active}; the engine runs one "
            "adapter per request: activate one with set_adapter"
        )
    return active[0]


def _rows_to_keep(c: Chunk) -> list[bool]:
    req, start = c.request, c.request.num_computed
    prompt_len = len(req.prompt_token_ids)
    score = req.params.prompt_logprobs is not None
    # row at position p predicts token p + 1: scored while p + 1 is a prompt position
    rows = [score and p + 1 < prompt_len for p in range(start, start + c.num_tokens)]
    if c.completes_prompt and _samples(c):
        rows[-1] = True
    return rows


def _samples(c: Chunk) -> bool:
    return c.request.max_tokens > len(c.request.output_token_ids)


def _split_logits(
    chunks: list[Chunk], keeps: list[list[bool]], logits: torch.Tensor
) -> list[ChunkLogits]:
    out, row = [], 0
    for c, keep in zip(chunks, keeps, strict=True):
        n_kept = sum(keep)
        part = logits[row : row + n_kept]
        row += n_kept
        result = ChunkLogits(first_scored=c.request.num_computed + 1)
        if c.completes_prompt and _samples(c):
            result.last, part = part[-1], part[:-1]
        if c.request.params.prompt_logprobs is not None and part.shape[0] > 0:
            result.prompt = part
        out.append(result)
    return out


class _adapter:
    """Context: run a PeftModel with only `name` active ("__base__": adapters disabled)."""

    def __init__(self, model: torch.nn.Module, name: str | None):
        self.model, self.name, self._inner = model, name, None

    def __enter__(self) -> None:
        if self.name == BASE:
            self._inner = self.model.disable_adapter()
            self._inner.__enter__()
        elif self.name is not None and self.model.active_adapter != self.name:
            self.model.set_adapter(self.name, inference_mode=True)

    def __exit__(self, *exc: object) -> None:
        if self._inner is not None:
            self._inner.__exit__(*exc)
