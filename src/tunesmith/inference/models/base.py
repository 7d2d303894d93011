"""The engine's own causal-LM forward: embeddings, decoder layers, one attention over the
slot cache per layer, final norm and LM head, over the flat batch of token rows.

A family module (`dense`, `deepseek_v3`) supplies the layers. Each layer splits into
`pre(x, cos, sin) -> (q, k, v)` (norm, fused projections, rotary) and
`post(x, attn) -> x` (output projection, residual, norm, MLP, residual): pure tensor
functions of the layer's weights, which `compiled.CompiledFunctions` may replace with
`torch.compile`d versions. Attention stays between them, eager, since its shapes depend
on every sequence's cached length (vLLM's piecewise compilation splits at attention too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F

from tunesmith.inference.attention import slot_attention
from tunesmith.inference.kv_cache import SlotKVCache, StepLayout
from tunesmith.inference.models.layers import rms_norm
from tunesmith.inference.models.lora import Lora, LoraSet, base_linear, lora_linear


class Layer(Protocol):
    scaling: float
    value_width: int
    """> 0: the cached keys' first `value_width` features are the values (MLA's latent);
    0: values are cached on their own"""

    def pre(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Hidden `[T, D]` -> query `[T, H, dq]`, key `[T, kvH, dk]`, value `[T, kvH, dv]`."""

    def post(self, x: torch.Tensor, attn: torch.Tensor) -> torch.Tensor:
        """Hidden `[T, D]` and attention output `[T, H, dv]` -> the next hidden `[T, D]`."""


@dataclass
class Functions:
    """The pure functions a family's layers call: eager, or (for a step padded to a
    compiled bucket) their compiled versions (see `compiled`)."""

    eager: dict[str, Callable]
    compiled: dict[str, Callable] = field(default_factory=dict)
    use_compiled: bool = False

    def __getitem__(self, name: str) -> Callable:
        return (self.compiled if self.use_compiled else self.eager)[name]


class NativeCausalLM:
    """A Hugging Face causal LM's weights run by the engine's own forward (see module doc)."""

    def __init__(
        self,
        hf_model: torch.nn.Module,
        layers: list[Layer],
        functions: Functions,
        family: str,
        adapters: LoraSet | None = None,
    ):
        inner = hf_model.model
        self.family = family
        self.adapters = adapters
        """the PeftModel's adapters, batched per row (None: a plain model)"""
        self.layers = layers
        self.functions = functions
        self.embed = inner.embed_tokens.weight.detach()
        self.rotary = inner.rotary_emb
        self.norm = inner.norm.weight.detach()
        self.norm_eps = float(inner.norm.variance_epsilon)
        head = hf_model.get_output_embeddings()
        self.lm_head = base_linear(head).weight.detach()
        self.head_lora = lora_stacks(adapters, lm_head=(head,))
        self.buckets: tuple[int, ...] = ()
        """token counts the compiled functions were warmed for (empty: eager)"""
        self.compiled_steps = 0
        """forward passes that ran the compiled functions"""

    def pad_to(self, num_tokens: int) -> int:
        """The bucket a step of `num_tokens` rows runs padded to (itself when none fits)."""
        return next((b for b in self.buckets if b >= num_tokens), num_tokens)

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        layout: StepLayout,
        cache: SlotKVCache,
        keep: torch.Tensor,
        batched_decode: bool = True,
        rows: torch.Tensor | int | None = None,
    ) -> torch.Tensor:
        """Token rows `[T]` at `positions` `[T]` -> logits `[kept rows, vocab]`; `rows` `[T]`:
        each row's adapter index (`LoraSet.rows`; one int when all rows share it), needed
        when the model has adapters."""
        if (rows is None) != (self.adapters is None):
            raise ValueError("adapter rows are needed exactly when the model has adapters")
        n = input_ids.numel()
        padded = self.pad_to(n)
        self.functions.use_compiled = padded in self.buckets
        self.compiled_steps += self.functions.use_compiled
        if padded > n:
            input_ids = F.pad(input_ids, (0, padded - n))
            positions = F.pad(positions, (0, padded - n))
            rows = rows if rows is None or isinstance(rows, int) else F.pad(rows, (0, padded - n))
        x = F.embedding(input_ids, self.embed)
        cos, sin = self.rotary(x[None], positions[None])
        cos, sin = cos[0], sin[0]
        for i, layer in enumerate(self.layers):
            q, k, v = layer.pre(x, cos, sin, rows)
            attn = attend(layer, i, q[:n], k[:n], v[:n], layout, cache, batched_decode)
            if padded > n:
                attn = F.pad(attn, (0, 0, 0, 0, 0, padded - n))
            x = layer.post(x, attn, rows)
        x = rms_norm(x[:n][keep], self.norm, self.norm_eps)
        head_rows = rows if rows is None or isinstance(rows, int) else rows[:n][keep]
        lora = with_rows(self.head_lora, head_rows)
        return lora_linear(x, self.lm_head, None, lora, "lm_head")


def attend(
    layer: Layer,
    index: int,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    layout: StepLayout,
    cache: SlotKVCache,
    batched_decode: bool,
) -> torch.Tensor:
    """Write the step's keys/values into the cache; attend over each sequence's own."""
    keys, values = cache.update(k[:, :, None], v[:, :, None], index)
    if layer.value_width:
        values = keys[..., : layer.value_width]
    out, _ = slot_attention(
        None,  # type: ignore[arg-type]
        q[:, :, None],
        keys,
        values,
        None,
        scaling=layer.scaling,
        slot_layout=layout,
        batched_decode=batched_decode,
    )
    return out[:, 0]


def lora_stacks(adapters: LoraSet | None, **linears: tuple[torch.nn.Module, ...]) -> dict:
    """{name: (A, B)} of the (fused) linears some adapter targets (empty: none)."""
    if adapters is None:
        return {}
    stacks = {name: adapters.stack(*mods) for name, mods in linears.items()}
    return {name: st for name, st in stacks.items() if st is not None}


def with_rows(stacks: dict, rows: torch.Tensor | int | None) -> Lora | None:
    """A layer's LoRA stacks with this step's per-row adapter index (None: no LoRA)."""
    return {**stacks, "idx": rows} if stacks and rows is not None else None
