"""The packed-row attention runs samples of similar length as one padded batch: outputs and
gradients equal one causal SDPA call per sample."""

from __future__ import annotations

import pytest
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


@pytest.mark.parametrize("checkpointing", [False, True])
def test_shared_prompts_on_a_dense_family_with_and_without_checkpointing(checkpointing) -> None:
    from peft import LoraConfig, get_peft_model

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer
    from tunesmith.training.rl.batch import pack, token_logps

    torch.manual_seed(0)
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"))
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear"))
    if checkpointing:  # the layers' kwargs (prefix_groups) must survive the checkpoint wrapper
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    prompts = [[5, 6, 7, 8, 9]] * 3 + [[11, 12, 13]] * 2
    completions = [[20, 21], [22], [23, 24, 25], [26, 27], [28]]
    results = []
    for share in (True, False):
        model.zero_grad()
        logps, mask, _ = token_logps(model, pack(prompts, completions, share_prompts=share), 0.7)
        (logps * mask).sum().backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        results.append((logps.detach(), grads))
    (a, grads_a), (b, grads_b) = results
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert len(grads_a) == len(grads_b) > 0
    for x, y in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)
