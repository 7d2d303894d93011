"""Next-token selection: penalties, greedy or temperature / top-k / top-p sampling, logprobs.

A request with a grammar (`Request.constraint`) has its row masked to the tokens its grammar
allows, before anything else; rows without one do no grammar work. Each row is processed on
its own, with its request's parameters and `torch.Generator`, so a
token never depends on the other rows of the batch (greedy rows share one argmax). A row whose
parameters make its distribution non-finite (a repetition penalty of 1e-300 turns positive
logits into inf) fails alone: its entry is an `InvalidRequestError` naming the parameters, the
other rows get their tokens.
"""

from __future__ import annotations

import torch

from tunesmith.inference.params import InvalidRequestError, SamplingParams
from tunesmith.inference.request import Logprob, Request

Sampled = tuple[int, Logprob | None] | InvalidRequestError
"""(token, its logprob when asked), or why this row could not be sampled"""


def sample(logits: torch.Tensor, requests: list[Request]) -> list[Sampled]:
    """One token per row of `logits` `[len(requests), vocab]`, with its logprob when asked."""
    logits = logits.float()
    want_logprobs = any(r.params.logprobs is not None for r in requests)
    logprobs = torch.log_softmax(logits, dim=-1) if want_logprobs else None
    plain_greedy = [r.params.greedy and not r.params.adjusts_logits for r in requests]
    argmax = logits.argmax(dim=-1).tolist() if any(plain_greedy) else []
    out: list[Sampled] = []
    for i, req in enumerate(requests):
        try:
            token = argmax[i] if plain_greedy[i] else _pick(logits[i], req)
        except InvalidRequestError as e:
            out.append(e)
            continue
        lp = None
        if logprobs is not None and req.params.logprobs is not None:
            lp = token_logprobs(logprobs[i : i + 1], [token], req.params.logprobs)[0]
        out.append((token, lp))
    return out


def _pick(row: torch.Tensor, req: Request) -> int:
    p = req.params
    if req.constraint is not None:  # first: penalties and temperature see allowed tokens only
        row = row.masked_fill(~req.constraint.allowed_token_mask(), float("-inf"))
    if p.logit_bias:
        row = apply_logit_bias(row, p.logit_bias)
    if p.penalized:
        row = apply_penalties(row, req.prompt_token_ids, req.output_token_ids, p)
    if p.greedy:
        _check_finite(row, p)
        return int(row.argmax())
    row = truncate(row / p.temperature, p.top_k, p.top_p)
    _check_finite(row, p)
    probs = torch.softmax(row, dim=-1)
    return int(torch.multinomial(probs, 1, generator=req.generator))


def _check_finite(row: torch.Tensor, p: SamplingParams) -> None:
    """Raise when `row` has no usable distribution: a nan or +inf logit, or every token
    banned (-inf). The message names the parameters the request changed."""
    if not (row.isnan().any() or row.isposinf().any() or row.isneginf().all()):
        return
    changed = p.changed()
    values = ", ".join(n if n == "logit_bias" else f"{n}={getattr(p, n)!r}" for n in changed)
    raise InvalidRequestError(
        f"the sampling parameters of this request ({values or 'defaults'}) make its "
        "next-token distribution non-finite; use values closer to the defaults",
        param=changed[0] if changed else None,
        code="invalid_value",
    )


def apply_logit_bias(row: torch.Tensor, bias: dict[int, float]) -> torch.Tensor:
    """Add each token's bias to its logit (a copy)."""
    row = row.clone()
    ids = torch.tensor(list(bias), dtype=torch.long, device=row.device)
    row[ids] += torch.tensor(list(bias.values()), dtype=row.dtype, device=row.device)
    return row


def apply_penalties(
    row: torch.Tensor, prompt: list[int], output: list[int], p: SamplingParams
) -> torch.Tensor:
    """Repetition penalty over prompt + output; frequency and presence over output."""
    row = row.clone()
    if p.repetition_penalty != 1.0:
        seen = torch.tensor(sorted(set(prompt) | set(output)), dtype=torch.long)
        vals = row[seen]
        row[seen] = torch.where(vals > 0, vals / p.repetition_penalty, vals * p.repetition_penalty)
    if output and (p.frequency_penalty != 0.0 or p.presence_penalty != 0.0):
        counts = torch.bincount(torch.tensor(output), minlength=row.numel()).to(row.dtype)
        row -= p.frequency_penalty * counts + p.presence_penalty * (counts > 0).to(row.dtype)
    return row


def truncate(row: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Set logits outside the top k and outside the top-p nucleus to -inf (keeps >= 1)."""
    if 0 < top_k < row.numel():
        kth = torch.topk(row, top_k).values[-1]
        row = row.masked_fill(row < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(row, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly better tokens
        drop = before >= top_p
        drop[0] = False
        row = row.clone()
        row[order[drop]] = float("-inf")
    return row


def token_logprobs(logprobs: torch.Tensor, tokens: list[int], k: int) -> list[Logprob]:
    """Logprob of `tokens[j]` in row j of `logprobs` `[n, vocab]`, with the top k of the row."""
    chosen = logprobs[torch.arange(len(tokens)), torch.tensor(tokens)].tolist()
    if k > 0:
        top_vals, top_ids = torch.topk(logprobs, k, dim=-1)
        tops = [
            tuple(zip(ids, vals, strict=True))
            for ids, vals in zip(top_ids.tolist(), top_vals.tolist(), strict=True)
        ]
    else:
        tops = [()] * len(tokens)
    return [Logprob(t, c, top) for t, c, top in zip(tokens, chosen, tops, strict=True)]
