"""Padding-free packed attention for training on CPU and GPU ("tunesmith_varlen").

Packed rows carry position ids that restart at 0 for each sample. Stock transformers turns
them into a dense block-diagonal mask, which makes every row cost O(L^2) and keeps SDPA off
its fused kernels. This implementation instead cuts the row at each restart and runs causal
SDPA per sample, so attention costs sum(len_i^2) and uses the fused kernel. MLA's narrower
value head is zero-padded to the query width so the fused kernel applies there too.

Inputs that are not packed (generation with a KV cache, padded batches with a 2-D mask) go
through the stock SDPA path unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "tunesmith_varlen"


def segment_bounds(position_ids: torch.Tensor) -> list[tuple[int, int]] | None:
    """[(start, end)] of the samples in a packed row, or None when the row is one sequence."""
    pos = position_ids[0]
    restarts = (torch.diff(pos) != 1).nonzero().flatten() + 1
    if restarts.numel() == 0:
        return None
    edges = [0, *restarts.tolist(), pos.numel()]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _causal_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scaling: float | None, dropout: float
) -> torch.Tensor:
    return F.scaled_dot_product_attention(
        q,
        k,
        v,
        is_causal=True,
        scale=scaling,
        dropout_p=dropout,
        enable_gqa=q.shape[1] != k.shape[1],
    )


def varlen_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query/key/value: [batch, heads, seq, dim]. Returns [batch, seq, heads, dim_v]."""
    position_ids = kwargs.get("position_ids")
    packed = (
        attention_mask is None
        and position_ids is not None
        and query.shape[0] == 1
        and query.shape[2] == key.shape[2]
    )
    bounds = segment_bounds(position_ids) if packed else None
    if not packed or (bounds is None and query.shape[2] == 1):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    dv = value.shape[-1]
    if dv < query.shape[-1]:
        value = F.pad(value, (0, query.shape[-1] - dv))
    if bounds is None:
        out = _causal_sdpa(query, key, value, scaling, dropout)
    else:
        out = torch.cat(
            [
                _causal_sdpa(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], scaling, dropout)
                for s, e in bounds
            ],
            dim=2,
        )
    return out[..., :dv].transpose(1, 2).contiguous(), None


def varlen_mask(*args, attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor | None:
    """No mask for unpadded equal-length q/kv (the attention cuts segments itself)."""
    q_length, kv_length = kwargs.get("q_length"), kwargs.get("kv_length")
    if args:
        q_length, kv_length = args[1], args[2]
    if attention_mask is None and q_length == kv_length:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


AttentionInterface.register(NAME, varlen_attention)
AttentionMaskInterface.register(NAME, varlen_mask)
