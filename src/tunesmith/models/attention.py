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
    groups = kwargs.get("prefix_groups")
    if groups is not None:
        out = _shared_prefix_sdpa(query, key, value, groups, scaling, dropout)
    elif bounds is None:
        out = _causal_sdpa(query, key, value, scaling, dropout)
    else:
        out = _segments_sdpa(query, key, value, bounds, scaling, dropout)
    return out[..., :dv].transpose(1, 2).contiguous(), None


PAD_WASTE = 0.25
"""a bucket of samples runs padded to its longest while padding stays under this share"""


def length_buckets(lengths: list[int], waste: float = PAD_WASTE) -> list[list[int]]:
    """Sample indices grouped so each group runs as one padded batch: sorted by length,
    a group grows while its padded size stays within `1 + waste` of its real tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    real = 0
    for i in order:
        if groups and lengths[groups[-1][0]] * (len(groups[-1]) + 1) <= (1 + waste) * (
            real + lengths[i]
        ):
            groups[-1].append(i)
            real += lengths[i]
        else:
            groups.append([i])
            real = lengths[i]
    return groups


def _gather(t: torch.Tensor, flat: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Positions `flat` of a packed `[1, H, T, D]` as a batch `[n, H, width, D]`."""
    picked = t[0].index_select(1, flat)  # backward: index_add, far cheaper than index_put
    return picked.reshape(t.shape[1], *shape, t.shape[-1]).transpose(0, 1)


def _segments_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bounds: list[tuple[int, int]],
    scaling: float | None, dropout: float,
) -> torch.Tensor:  # fmt: skip
    """Causal attention within each sample of a packed row `[1, H, T, D]`. Samples of
    similar length run together as one right-padded batch (causal attention never lets a
    real token see the padding after it): one SDPA call per bucket instead of one per
    sample, and one gather / scatter each way instead of a slice per sample."""
    parts = _Parts(q)
    _causal_buckets(parts, q, k, v, bounds, scaling, dropout)
    return parts.assemble()


def _shared_prefix_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    groups: list[tuple[int, int, list[tuple[int, int]]]], scaling: float | None, dropout: float,
) -> torch.Tensor:  # fmt: skip
    """Packed groups that share a prompt: `groups` holds (prompt start, prompt length,
    [(completion start, completion length)]). Each prompt attends causally to itself;
    each completion to its group's prompt and causally to itself (its positions continue
    the prompt's), never to the other completions. The completions of a group run as one
    padded batch whose keys are the prompt's (gathered once per completion, so their
    gradients add up in the shared prompt) followed by its own."""
    parts = _Parts(q)
    _causal_buckets(parts, q, k, v, [(s, s + n) for s, n, _ in groups], scaling, dropout)
    for start, plen, members in groups:
        index, valid = _padded(members, q.device)
        m, width = index.shape
        prompt = torch.arange(start, start + plen, device=q.device).expand(m, plen)
        keys = torch.cat([prompt, index], dim=1).reshape(-1)
        rows = torch.arange(width, device=q.device).unsqueeze(1)
        cols = torch.arange(plen + width, device=q.device).unsqueeze(0)
        mask = (cols < plen) | (cols - plen <= rows)
        out = F.scaled_dot_product_attention(
            _gather(q, index.reshape(-1), (m, width)),
            _gather(k, keys, (m, plen + width)),
            _gather(v, keys, (m, plen + width)),
            attn_mask=mask, dropout_p=dropout, scale=scaling, enable_gqa=q.shape[1] != k.shape[1],
        )  # fmt: skip
        parts.add(out, index, valid)
    return parts.assemble()


def _padded(
    spans: list[tuple[int, int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(index `[n, width]`, valid `[n, width]`) of (start, length) spans right-padded to the
    longest: the padding repeats a span's last position (valid False there)."""
    starts = torch.tensor([s for s, _ in spans], device=device)
    lens = torch.tensor([n for _, n in spans], device=device)
    offs = torch.arange(int(lens.max()), device=device).unsqueeze(0)
    index = starts.unsqueeze(1) + torch.minimum(offs, lens.unsqueeze(1) - 1)
    return index, offs < lens.unsqueeze(1)


class _Parts:
    """Attention outputs computed batch by batch, put back in packed order at the end."""

    def __init__(self, q: torch.Tensor):
        self.heads, self.device = q.shape[1], q.device
        self.pieces: list[torch.Tensor] = []
        self.where: list[torch.Tensor] = []

    def add(self, out: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> None:
        """out `[n, H, width, D]` of the packed positions `index` `[n, width]` where valid."""
        keep = valid.reshape(-1).nonzero().squeeze(1)
        flat = out.transpose(0, 1).reshape(self.heads, -1, out.shape[-1])
        self.pieces.append(flat.index_select(1, keep))
        self.where.append(index.reshape(-1)[keep])

    def assemble(self) -> torch.Tensor:
        order = torch.cat(self.where)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=self.device)
        return torch.cat(self.pieces, dim=1).index_select(1, inverse).unsqueeze(0)


def _causal_buckets(
    parts: _Parts, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    bounds: list[tuple[int, int]], scaling: float | None, dropout: float,
) -> None:  # fmt: skip
    lengths = [e - s for s, e in bounds]
    for group in length_buckets(lengths):
        index, valid = _padded([(bounds[i][0], lengths[i]) for i in group], q.device)
        flat, shape = index.reshape(-1), tuple(index.shape)
        out = _causal_sdpa(
            _gather(q, flat, shape), _gather(k, flat, shape), _gather(v, flat, shape),
            scaling, dropout,
        )  # fmt: skip
        parts.add(out, index, valid)


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
