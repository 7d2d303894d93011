"""The chunked LM head + loss equals the plain computation: values and gradients (fp32)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunesmith.training.chunked_ce import (
    chunk_rows,
    chunked_kl_sum,
    chunked_linear_cross_entropy,
    chunked_token_logprobs,
    plain_linear_cross_entropy,
)

ROWS, HIDDEN, VOCAB = 37, 16, 50


def _inputs(seed: int = 0, bias: bool = False):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(ROWS, HIDDEN, generator=g, dtype=torch.float64).float()
    w = (torch.randn(VOCAB, HIDDEN, generator=g) * 0.3).float()
    b = torch.randn(VOCAB, generator=g) * 0.1 if bias else None
    t = torch.randint(0, VOCAB, (ROWS,), generator=g)
    t[::4] = -100  # prompt / padding positions
    return h, w, b, t


def _grads(fn, h, w, b, t, **kw):
    h, w = h.clone().requires_grad_(True), w.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True) if b is not None else None
    loss = fn(h, w, t, bias=b, **kw)
    (loss * 0.37).backward()  # an accumulation scale, as the loop applies
    return loss.detach(), h.grad, w.grad, b.grad if b is not None else None


@pytest.mark.parametrize("chunk", [1, 5, 8, 64])
@pytest.mark.parametrize("bias", [False, True])
def test_loss_and_grads_match_plain(chunk: int, bias: bool) -> None:
    h, w, b, t = _inputs(bias=bias)
    ref = _grads(plain_linear_cross_entropy, h, w, b, t)
    got = _grads(chunked_linear_cross_entropy, h, w, b, t, chunk=chunk)
    for r, c in zip(ref, got, strict=True):
        if r is None:
            assert c is None
            continue
        torch.testing.assert_close(c, r, rtol=1e-5, atol=1e-5)
    # and the reference is cross_entropy itself, mean over the 27 kept targets x their count
    kept = int((t != -100).sum())
    assert kept == 27
    mean = F.cross_entropy(F.linear(h, w, b), t, ignore_index=-100)
    torch.testing.assert_close(got[0], mean * kept, rtol=1e-6, atol=1e-5)


def test_token_weights_match_plain() -> None:
    h, w, b, t = _inputs(seed=1)
    weights = torch.linspace(0.1, 2.0, ROWS)
    ref = _grads(plain_linear_cross_entropy, h, w, b, t, weights=weights)
    got = _grads(chunked_linear_cross_entropy, h, w, b, t, weights=weights, chunk=6)
    for r, c in zip(ref[:3], got[:3], strict=True):
        torch.testing.assert_close(c, r, rtol=1e-5, atol=1e-5)


def test_accumulated_micro_batches_equal_one_batch() -> None:
    """Two micro-batches, each sum scaled by 1 / (targets of both), give the gradient of the
    whole window's mean token loss: the loop's token-weighted accumulation."""
    h, w, _, t = _inputs(seed=2)
    n = int((t != -100).sum())
    whole = w.clone().requires_grad_(True)
    (plain_linear_cross_entropy(h, whole, t) / n).backward()
    split = w.clone().requires_grad_(True)
    for part in (slice(0, 11), slice(11, ROWS)):
        (chunked_linear_cross_entropy(h[part], split, t[part], chunk=4) / n).backward()
    torch.testing.assert_close(split.grad, whole.grad, rtol=1e-5, atol=1e-6)


def test_frozen_head_and_no_grad() -> None:
    h, w, _, t = _inputs(seed=3)
    hh = h.clone().requires_grad_(True)
    loss = chunked_linear_cross_entropy(hh, w, t, chunk=7)  # LoRA: the head is frozen
    loss.backward()
    assert hh.grad is not None and w.grad is None
    with torch.no_grad():
        again = chunked_linear_cross_entropy(h, w, t, chunk=7)
    assert again.requires_grad is False
    torch.testing.assert_close(again, loss.detach())


def test_all_ignored_is_zero_with_zero_grads() -> None:
    h, w, _, t = _inputs(seed=4)
    hh = h.clone().requires_grad_(True)
    loss = chunked_linear_cross_entropy(hh, w, torch.full_like(t, -100), chunk=8)
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(hh.grad.abs().sum()) == 0.0


def test_leading_dims_and_bad_shapes() -> None:
    h, w, _, t = _inputs(seed=5)
    flat = chunked_linear_cross_entropy(h[:36], w, t[:36])
    batched = chunked_linear_cross_entropy(h[:36].reshape(4, 9, HIDDEN), w, t[:36].reshape(4, 9))
    torch.testing.assert_close(batched, flat)
    with pytest.raises(ValueError, match="targets: 36 rows, hidden states: 37"):
        chunked_linear_cross_entropy(h, w, t[:36])


def test_bf16_autocast_close_to_plain_autocast() -> None:
    h, w, _, t = _inputs(seed=6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = _grads(plain_linear_cross_entropy, h, w, None, t)
        got = _grads(chunked_linear_cross_entropy, h, w, None, t, chunk=8)
    assert got[2].dtype == torch.float32  # the fp32 master weight gets an fp32 gradient
    torch.testing.assert_close(got[0], ref[0], rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(got[2], ref[2], rtol=2e-2, atol=2e-3)


def test_chunk_rows_budget() -> None:
    assert chunk_rows(4096, 151_936) == 32  # 32 x 151,936 logits = 4.9M elements
    assert chunk_rows(100, 1000) == 100  # small vocab: one chunk
    assert chunk_rows(100, 1000, chunk=7) == 7
    # with the head's width: chunks of up to half the weight's elements (the weight-gradient
    # pass per chunk must be paid for by enough rows), never below the 8M-element rule
    assert chunk_rows(4096, 151_936, width=1536) == 512
    assert chunk_rows(4096, 129_280, width=7168) == 2048  # DeepSeek-V3's head
    assert chunk_rows(4096, 4096, width=128) == 2048  # tiny models: the 8M rule, unchanged


def test_token_logprobs_match_log_softmax() -> None:
    h, w, _, t = _inputs(seed=7)
    a, b = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
    full = torch.log_softmax(F.linear(a, w) / 0.7, dim=-1)
    ref = torch.where(t >= 0, full.gather(1, t.clamp(min=0)[:, None])[:, 0], 0.0)
    got = chunked_token_logprobs(b, w, t, temperature=0.7, chunk=5)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    ref.sum().backward()
    got.sum().backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)


def test_kl_sum_matches_full_logits() -> None:
    h, w, _, _ = _inputs(seed=8)
    g = torch.Generator().manual_seed(9)
    th, tw = torch.randn(ROWS, 12, generator=g), torch.randn(VOCAB + 3, 12, generator=g) * 0.3
    a, b = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
    temp = 2.0
    ref = F.kl_div(
        F.log_softmax(F.linear(a, w) / temp, dim=-1),
        F.log_softmax(F.linear(th, tw)[:, :VOCAB] / temp, dim=-1),
        log_target=True,
        reduction="sum",
    )
    got = chunked_kl_sum(b, w, th, tw, temperature=temp, vocab=VOCAB, chunk=6)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    ref.backward()
    got.backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)
