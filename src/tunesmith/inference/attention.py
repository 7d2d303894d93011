"""Attention over the slot cache for a flat batch of token rows ("tunesmith_slots").

Registered with transformers' `AttentionInterface` (no mask function is registered, so the
model builds no mask of its own). The engine switches a model to it only for the duration of
its own forward passes (`use_slot_attention`), passing the step's `StepLayout` as the
`slot_layout` keyword, which transformers hands through to every attention call.

Each sequence attends over exactly its own cached keys (no padding), so its result does not
depend on what else is in the batch. Decode-only steps may instead run one padded, masked
SDPA call over all sequences (`batched_decode`): faster for many sequences.
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
    if batched_decode and slot_layout.decode_only:
        lens = torch.tensor(slot_layout.kv_lens, device=key.device)
        mask = torch.arange(key.shape[2], device=key.device)[None, :] < lens[:, None]
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask[:, None, None, :], scale=scaling, enable_gqa=gqa
        )
        return out.transpose(1, 2), None
    outs = []
    for i, (start, n, length) in enumerate(
        zip(slot_layout.query_starts, slot_layout.query_lens, slot_layout.kv_lens, strict=True)
    ):
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
