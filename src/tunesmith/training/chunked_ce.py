"""LM head + loss over row chunks: the `[tokens, vocab]` logits never exist at once.

    loss_sum = chunked_linear_cross_entropy(hidden, lm_head.weight, targets)

At 4,096 tokens and a 151,936-token vocabulary the fp32 logits alone are 2.5 GB, and their
softmax and gradient as much again. Here the head's matmul, the log-softmax and the loss run
on `chunk` rows at a time; for each chunk the gradient of the logits
(`w * (softmax - onehot)`) is formed at once and turned into that chunk's hidden-state
gradient and its share of the head-weight gradient (accumulated in fp32), so the autograd
graph keeps only `[tokens, hidden]` and `[vocab, hidden]` tensors. Backward then scales the
stored gradients by the incoming gradient (the loop's `scale`), with no recomputation
(three matmuls per chunk, as the plain path runs). This is the scheme of Liger-Kernel's
fused linear cross-entropy, in plain torch so it runs on CPU and GPU alike.

Semantics are the plain path's exactly: `sum_i w_i * CE(hidden_i @ W.T + b, target_i)` over
rows whose target is not `ignore_index` (w_i = 1 without `weights`); the loop divides that
sum by the target count of the whole accumulation window (training/loss.py). Under autocast
the matmuls run in the autocast dtype and the softmax in fp32, as `lm_head(h).float()` does.

Also here, for distillation and log-prob gathers:
- `chunked_kl_sum`: sum over rows of KL(teacher || student) at a temperature, both sides'
  logits formed chunk by chunk from their hidden states and heads (recomputed in backward);
- `chunked_token_logprobs`: log p(target) per row, chunk by chunk, differentiable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100
CHUNK_ELEMENTS = 1 << 23  # logits elements per chunk at least: 32 MiB in fp32
WEIGHT_SHARE = 2
"""A chunk's logits may hold up to 1/WEIGHT_SHARE of the head weight's elements: every chunk
adds its share into the `[vocab, hidden]` weight gradient, a pass over memory as large as the
weight, so a chunk must carry enough rows of matmul to pay for that pass. At the real Qwen
head (151,936 x 1,536, 1,500 rows, forward + backward on 2 CPU cores) the 8M-element rule
alone gave 32-row chunks: 26.3 s in bf16 against the plain head's 3.3 s. Chunks of half the
weight (512 rows, 311 MB of fp32 logits, half the fp32 weight gradient full fine-tuning holds
anyway) take 4.35 s (fp32: 8.3 s vs plain 7.7 s); a quarter, 5.35 s; a whole, 4.17 s."""


def chunk_rows(rows: int, vocab: int, chunk: int = 0, width: int = 0) -> int:
    """Rows per chunk: `chunk` if given, else a power of two with chunk x vocab at most
    max(8M, vocab x `width` / WEIGHT_SHARE) elements."""
    if chunk > 0:
        return min(chunk, max(rows, 1))
    budget = max(CHUNK_ELEMENTS, vocab * width // WEIGHT_SHARE)
    n = max(1, budget // max(vocab, 1))
    return max(1, min(1 << (n.bit_length() - 1), max(rows, 1)))


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """The matmul dtype: autocast's when it is on for this device, else the tensor's."""
    kind = t.device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return t.dtype


def _head(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """One chunk of logits in fp32 (matmul in the operands' dtype)."""
    z = h @ w.t()
    if b is not None:
        z = z + b
    return z.float()


def _backprop_chunk(
    g: torch.Tensor,
    h: torch.Tensor,
    w: torch.Tensor,
    grads: list[torch.Tensor | None],
    start: int,
    need: tuple[bool, bool, bool],
    buffer: torch.Tensor | None,
) -> None:
    """From dL/dlogits of rows [start, start+len(g)): hidden, weight and bias gradients. The
    weight gradient is accumulated in place (fp32 matmuls straight into it; otherwise through
    `buffer`, one `[vocab, hidden]` tensor of the matmul dtype reused by every chunk), so no
    chunk allocates a weight-sized tensor."""
    gh, gw, gb = grads
    gc = g.to(h.dtype)
    if need[0] and gh is not None:
        gh[start : start + g.shape[0]] = (gc @ w).to(gh.dtype)
    if need[1] and gw is not None:
        if buffer is None:
            gw.addmm_(gc.t(), h)
        else:
            torch.mm(gc.t(), h, out=buffer)
            gw.add_(buffer)
    if need[2] and gb is not None:
        gb.add_(g.sum(0))


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(  # noqa: PLR0913
        ctx: torch.autograd.function.FunctionCtx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
        weights: torch.Tensor | None,
        chunk: int,
        ignore_index: int,
        grad_enabled: bool,
    ) -> torch.Tensor:
        dtype = compute_dtype(hidden)
        need = (
            hidden.requires_grad,
            weight.requires_grad,
            bias is not None and bias.requires_grad,
        )
        grad_on = grad_enabled and any(need)  # forward itself always runs under no_grad
        with torch.autocast(hidden.device.type, enabled=False):
            h_all, w = hidden.to(dtype), weight.to(dtype)
            b = bias.to(dtype) if bias is not None else None
            rows, vocab = h_all.shape[0], w.shape[0]
            grads: list[torch.Tensor | None] = [
                torch.zeros_like(hidden) if grad_on and need[0] else None,
                torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
                if grad_on and need[1]
                else None,
                torch.zeros(vocab, dtype=torch.float32, device=weight.device)
                if grad_on and need[2]
                else None,
            ]
            total = torch.zeros((), dtype=torch.float32, device=hidden.device)
            step = chunk_rows(rows, vocab, chunk, w.shape[1])
            buffer = (
                torch.empty(w.shape, dtype=dtype, device=w.device)
                if grads[1] is not None and dtype != torch.float32
                else None
            )
            for start in range(0, rows, step):
                t = targets[start : start + step]
                keep = t != ignore_index
                if not bool(keep.any()):
                    continue
                h = h_all[start : start + step]
                z = _head(h, w, b)
                lse = torch.logsumexp(z, dim=-1)
                safe = torch.where(keep, t, 0)
                picked = z.gather(1, safe[:, None])[:, 0]
                coef = keep.float()
                if weights is not None:
                    coef = coef * weights[start : start + step].float()
                total += ((lse - picked) * coef).sum()
                if grad_on:
                    g = torch.exp(z.sub_(lse[:, None]))  # softmax, in place of the logits
                    g[torch.arange(g.shape[0], device=g.device), safe] -= 1.0
                    g.mul_(coef[:, None])
                    _backprop_chunk(g, h, w, grads, start, need, buffer)
                    del g
                del z
        ctx.grads = grads
        ctx.dtypes = (weight.dtype, bias.dtype if bias is not None else None)
        return total

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_out: torch.Tensor):  # noqa: ANN205
        gh, gw, gb = ctx.grads
        ctx.grads = None
        wd, bd = ctx.dtypes
        scale = grad_out.float()
        out_h = (gh * scale.to(gh.dtype)) if gh is not None else None
        out_w = (gw * scale).to(wd) if gw is not None else None
        out_b = (gb * scale).to(bd) if gb is not None else None
        return out_h, out_w, out_b, None, None, None, None, None


def chunked_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    chunk: int = 0,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Sum over rows of `weights_i * CE(hidden_i @ weight.T + bias, targets_i)` (a scalar,
    fp32), ignoring rows whose target is `ignore_index`. `hidden` may have any leading
    shape; `targets` (and `weights`) match it without the last dimension. `chunk`: rows per
    chunk, 0 = about 8M logits elements per chunk."""
    h = hidden.reshape(-1, hidden.shape[-1])
    t = targets.reshape(-1).to(h.device)
    if t.shape[0] != h.shape[0]:
        raise ValueError(f"targets: {t.shape[0]} rows, hidden states: {h.shape[0]}")
    w = weights.reshape(-1).to(h.device) if weights is not None else None
    return _LinearCrossEntropy.apply(
        h, weight, bias, t, w, chunk, ignore_index, torch.is_grad_enabled()
    )


def plain_linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """The same sum through full logits (the reference, and `train.loss_impl: plain`)."""
    h = hidden.reshape(-1, hidden.shape[-1])
    logits = F.linear(h, weight, bias).float()
    t = targets.reshape(-1).to(h.device)
    ce = F.cross_entropy(logits, t, ignore_index=ignore_index, reduction="none")
    if weights is not None:
        ce = ce * weights.reshape(-1).to(ce.device).float()
    return ce.sum()


def chunked_token_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    temperature: float = 1.0,
    chunk: int = 0,
) -> torch.Tensor:
    """log softmax(hidden @ W.T / T)[target] per row (fp32, shape of `targets`), one chunk of
    logits at a time; each chunk's logits are recomputed in backward (checkpointed), so
    preference and RL losses can gather sequence log-probs without full logits.
    Rows whose target is negative get 0."""
    h = hidden.reshape(-1, hidden.shape[-1])
    t = targets.reshape(-1).to(h.device)
    step = chunk_rows(h.shape[0], weight.shape[0], chunk, weight.shape[1])

    def piece(hc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
        z = F.linear(hc, weight, bias).float() / temperature
        lp = z.gather(1, tc.clamp(min=0)[:, None])[:, 0] - torch.logsumexp(z, dim=-1)
        return torch.where(tc >= 0, lp, torch.zeros_like(lp))

    parts = [
        checkpoint(piece, h[s : s + step], t[s : s + step], use_reentrant=False)
        for s in range(0, h.shape[0], step)
    ]
    return torch.cat(parts).reshape(targets.shape)


def chunked_kl_sum(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    teacher_hidden: torch.Tensor,
    teacher_weight: torch.Tensor,
    *,
    temperature: float = 1.0,
    vocab: int | None = None,
    chunk: int = 0,
) -> torch.Tensor:
    """Sum over rows of KL(softmax(t / T) || softmax(s / T)) with the student's logits
    s = `hidden @ weight.T` and the teacher's t = `teacher_hidden @ teacher_weight.T` (no
    gradient), both cut to the first `vocab` columns (embedding rows padded past the
    tokenizer). One chunk of rows at a time, recomputed in backward (checkpointed): neither
    side's `[rows, vocab]` logits exist at once. Multiply by T^2 for distillation."""
    h = hidden.reshape(-1, hidden.shape[-1])
    th = teacher_hidden.reshape(-1, teacher_hidden.shape[-1]).detach()
    if th.shape[0] != h.shape[0]:
        raise ValueError(f"teacher hidden states: {th.shape[0]} rows, student: {h.shape[0]}")
    v = vocab or min(weight.shape[0], teacher_weight.shape[0])
    step = chunk_rows(h.shape[0], weight.shape[0], chunk, weight.shape[1])

    def piece(hc: torch.Tensor, tc: torch.Tensor) -> torch.Tensor:
        s = F.linear(hc, weight).float()[..., :v]
        with torch.no_grad():
            t = F.linear(tc, teacher_weight).float()[..., :v]
        return F.kl_div(
            F.log_softmax(s / temperature, dim=-1),
            F.log_softmax(t / temperature, dim=-1),
            log_target=True,
            reduction="sum",
        )

    parts = [
        checkpoint(piece, h[s : s + step], th[s : s + step], use_reentrant=False)
        for s in range(0, h.shape[0], step)
    ]
    return torch.stack(parts).sum() if parts else h.new_zeros((), dtype=torch.float32)
