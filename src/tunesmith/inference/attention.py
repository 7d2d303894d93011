"""Attention over the slot cache for a flat batch of token rows ("tunesmith_slots").

Registered with transformers' `AttentionInterface` (no mask function is registered, so the
model builds no mask of its own). The engine switches a model to it only for the duration of
its own forward passes (`use_slot_attention`), passing the step's `StepLayout` as the
`slot_layout` keyword, which transformers hands through to every attention call.

Each sequence attends over exactly its own cached keys. With `batched_decode` (the engine's
default) the leading one-token sequences of a step (the decoders: the scheduler puts them
first) share one SDPA call over their keys padded to the longest, the padding masked out;
prompt chunks always get a call of their own. Either way no sequence sees another's keys.
Float results are not bitwise independent of the batch (neither are the batched linear
layers: a 1-row matmul takes another kernel than a 32-row one); greedy tokens are, which
tests check with 32 concurrent sequences against each run alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

from tunesmith.inference.kv_cache import StepLayout

NAME = "tunesmith_slots"


def slot_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    slot_layout: StepLayout | None = None,
    batched_decode: bool = False,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query `[T, heads, 1, d]`; key/value `[seqs, kv_heads, L, d]` -> `[T, 1, heads, d_v]`."""
    if slot_layout is None:
        raise RuntimeError(f"{NAME} attention needs the engine's slot_layout")
    gqa = query.shape[1] != key.shape[1]
    outs = []
    first = slot_layout.num_single if batched_decode else 0
    if first:  # the leading one-token sequences: one padded, masked call
        mask = slot_layout.single_mask
        length = mask.shape[1]
        out = F.scaled_dot_product_attention(
            query[:first],
            key[:first, :, :length],
            value[:first, :, :length],
            attn_mask=mask[:, None, None, :],
            scale=scaling,
            enable_gqa=gqa,
        )
        outs.append(out[:, :, 0])
    for i in range(first, len(slot_layout.query_lens)):
        start, n = slot_layout.query_starts[i], slot_layout.query_lens[i]
        length = slot_layout.kv_lens[i]
        q = query[start : start + n, :, 0].transpose(0, 1).unsqueeze(0)
        k, v = key[i : i + 1, :, :length], value[i : i + 1, :, :length]
        mask = None
        if 1 < n < length:  # a later prompt chunk: causal, offset by the cached part
            pos = torch.arange(length, device=key.device)
            mask = pos[None, :] <= pos[length - n :, None]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=n > 1 and n == length, scale=scaling, enable_gqa=gqa
        )
        outs.append(out[0].transpose(0, 1))
    return torch.cat(outs).unsqueeze(1), None


@contextmanager
def use_slot_attention(model: torch.nn.Module) -> Iterator[None]:
    """Run `model` (and every sub-config) with slot attention inside the block only."""
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = previous


AttentionInterface.register(NAME, slot_attention)
