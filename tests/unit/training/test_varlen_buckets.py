"""The packed-row attention runs samples of similar length as one padded batch: outputs and
gradients equal one causal SDPA call per sample."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.models.attention import _segments_sdpa, length_buckets


def test_buckets_group_similar_lengths_within_the_padding_budget() -> None:
    lengths = [40, 12, 38, 11, 44, 3]
    groups = length_buckets(lengths, waste=0.25)
    assert groups == [[4, 0, 2], [1, 3], [5]]
    for g in groups:
        padded = lengths[g[0]] * len(g)
        assert padded <= 1.25 * sum(lengths[i] for i in g)
    assert sorted(i for g in groups for i in g) == list(range(6))


def test_bucketed_attention_equals_per_sample_sdpa_with_gradients() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = [7, 30, 29, 1, 12, 30, 5]
    total, heads, dim = sum(lengths), 3, 8
    edges = torch.tensor([0, *lengths]).cumsum(0).tolist()
    bounds = list(zip(edges[:-1], edges[1:], strict=True))
    q, k, v = (torch.randn(1, heads, total, dim, generator=gen, requires_grad=True) for _ in "qkv")

    ours = _segments_sdpa(q, k, v, bounds, None, 0.0)
    reference = torch.cat(
        [
            F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], is_causal=True)
            for s, e in bounds
        ],
        dim=2,
    )
    assert ours.shape == reference.shape == (1, heads, total, dim)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    weights = torch.randn(ours.shape, generator=gen)
    got = torch.autograd.grad((ours * weights).sum(), (q, k, v))
    want = torch.autograd.grad((reference * weights).sum(), (q, k, v))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
