"""Next-token selection: penalties, greedy or temperature / top-k / top-p sampling, logprobs.

A request with a grammar (`Request.constraint`) has its row masked to the tokens its grammar
allows, before anything else; rows without one do no grammar work. Rows that only sample
(no grammar, bias or penalty: the rollout and most serving traffic) are truncated and
normalised together, one batched op each; every row then draws its token by inverse CDF
from one uniform number of its own request's random stream (`random.Random`), so a token never depends on
the other rows of the batch (greedy rows share one argmax). A row whose parameters make its
distribution non-finite (a repetition penalty of 1e-300 turns positive logits into inf)
fails alone: its entry is an `InvalidRequestError` naming the parameters, the other rows
get their tokens.
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
    plain = [
        i
        for i, r in enumerate(requests)
        if not r.params.greedy and not r.params.adjusts_logits and r.constraint is None
    ]
    drawn = dict(zip(plain, _draw_rows(logits[plain], [requests[i] for i in plain]), strict=True))
    out: list[Sampled] = []
    for i, req in enumerate(requests):
        try:
            if plain_greedy[i]:
                token = argmax[i]
            else:
                token = drawn.get(i)
                if token is None:
                    token = _pick(logits[i], req)
        except InvalidRequestError as e:
            out.append(e)
            continue
        lp = None
        if logprobs is not None and req.params.logprobs is not None:
            lp = token_logprobs(logprobs[i : i + 1], [token], req.params.logprobs)[0]
        out.append((token, lp))
    return out


def _draw_rows(rows: torch.Tensor, requests: list[Request]) -> list[int | None]:
    """Temperature, top-k / top-p and a draw for rows that only sample, batched; None for a
    row with no finite distribution (the per-row path raises its error)."""
    if not requests:
        return []
    params = [r.params for r in requests]
    temps = [p.temperature for p in params]
    if any(t != 1.0 for t in temps):
        rows = rows / torch.tensor(temps, dtype=rows.dtype)[:, None]
    rows = truncate(rows, [p.top_k for p in params], [p.top_p for p in params])
    probs = torch.softmax(rows, dim=-1)
    # a nan or +inf logit, or every token banned, makes the row's softmax nan
    ok = probs.sum(-1).isfinite().tolist()
    tokens = draw(probs, [r.generator for r in requests], ok)
    return [t if good else None for t, good in zip(tokens, ok, strict=True)]


def draw(probs: torch.Tensor, generators: list, use: list[bool] | None = None) -> list[int]:
    """One token per row of `probs` `[n, vocab]` by inverse CDF: one uniform number from the
    row's generator (rows not in `use` draw nothing and get -1). Zero-probability tokens
    are never picked."""
    use = use if use is not None else [True] * len(generators)
    u = torch.tensor(
        [g.random() if on else 0.0 for g, on in zip(generators, use, strict=True)],
        dtype=probs.dtype,
    )
    cdf = probs.cumsum(dim=-1)  # rows not in `use` (no finite distribution) are never read
    target = (u * cdf[:, -1]).unsqueeze(1)
    tokens = torch.searchsorted(cdf, target, right=True).squeeze(1)
    vocab = probs.shape[-1]
    # u * total rounded up to the total: the last possible token
    over = (tokens >= vocab) & torch.tensor(use)
    if bool(over.any()):
        last = vocab - 1 - (probs[over].flip(-1) > 0).int().argmax(dim=-1)
        tokens[over] = last
    return [t if on else -1 for t, on in zip(tokens.tolist(), use, strict=True)]


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
    return draw(torch.softmax(row, dim=-1).unsqueeze(0), [req.generator])[0]


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


def truncate(
    rows: torch.Tensor, top_k: int | list[int], top_p: float | list[float]
) -> torch.Tensor:
    """Set logits outside the top k and outside the top-p nucleus to -inf (keeps >= 1).
    `rows` is one row `[vocab]` or a batch `[n, vocab]`; `top_k` / `top_p` one value or
    one per row (top_k 0 and top_p 1.0 keep everything)."""
    one = rows.dim() == 1
    x = rows.unsqueeze(0) if one else rows
    n, vocab = x.shape
    k_list = top_k if isinstance(top_k, list) else [top_k] * n
    p_list = top_p if isinstance(top_p, list) else [top_p] * n
    if all(not 0 < k < vocab for k in k_list) and all(p >= 1.0 for p in p_list):
        return rows  # nothing to cut (the common case: no tensor work per step)
    ks = torch.tensor(k_list)
    ps = torch.tensor(p_list, dtype=x.dtype)
    cut_k = (ks > 0) & (ks < vocab)
    if bool(cut_k.any()):
        kmax = int(ks[cut_k].max())
        top = torch.topk(x, kmax, dim=-1).values
        kth = top.gather(1, (ks.clamp(1, kmax) - 1).unsqueeze(1))
        kth = kth.masked_fill(~cut_k.unsqueeze(1), float("-inf"))
        x = x.masked_fill(x < kth, float("-inf"))
    cut_p = ps < 1.0
    if bool(cut_p.any()):
        sorted_logits, order = torch.sort(x, dim=-1, descending=True, stable=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the strictly better tokens
        drop = (before >= ps.unsqueeze(1)) & cut_p.unsqueeze(1)
        drop[:, 0] = False
        x = x.masked_fill(torch.zeros_like(drop).scatter(1, order, drop), float("-inf"))
    return x[0] if one else x


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
