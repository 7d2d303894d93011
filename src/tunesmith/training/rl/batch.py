"""Completions as training batches, and their per-token log-probs under a model.

A micro-batch packs its prompt + completion sequences into one row (position ids restart
at each sequence, the attention never crosses one: `model.attn_implementation`
tunesmith_varlen), so no padding is computed. `token_logps` returns the log-probs of the
completion tokens as a right-padded `[B, T]` tensor with its mask, the shape the policy
loss takes; the logits are divided by the sampling temperature first, so the loss scores
the distribution the rollout sampled from (as TRL does).
"""

from __future__ import annotations

import torch

from tunesmith.tokenize.packing import IGNORE


def pack(prompts: list[list[int]], completions: list[list[int]]) -> dict[str, torch.Tensor]:
    """One packed row: input_ids, position_ids, targets (the next token where it is a
    completion token, else IGNORE) and seq_ids (which completion each position scores)."""
    ids: list[int] = []
    pos: list[int] = []
    targets: list[int] = []
    seq: list[int] = []
    for k, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        tokens = p + c
        ids += tokens
        pos += range(len(tokens))
        targets += [IGNORE] * (len(p) - 1) + c + [IGNORE]
        seq += [-1] * (len(p) - 1) + [k] * len(c) + [-1]
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([pos]),
        "targets": torch.tensor([targets]),
        "seq_ids": torch.tensor([seq]),
    }


def token_logps(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], temperature: float = 1.0,
    *, entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """(log-probs `[B, T]`, mask `[B, T]`, entropies `[B, T]` or None) of the completion
    tokens of a packed batch; B = its completions, T = the longest one."""
    device = next(model.parameters()).device
    inputs = {k: batch[k].to(device) for k in ("input_ids", "position_ids")}
    targets = batch["targets"][0].to(device)
    seq = batch["seq_ids"][0].to(device)
    keep = targets != IGNORE
    # the head runs on the scored positions only (prompt positions need no logits)
    where = keep.nonzero().squeeze(1)
    logits = model(**inputs, use_cache=False, logits_to_keep=where).logits[0]
    scored = logits.float()
    if temperature != 1.0:
        scored = scored / temperature
    logprobs = torch.log_softmax(scored, dim=-1)
    picked = logprobs.gather(1, targets[where].unsqueeze(1)).squeeze(1)
    ent = None
    if entropy:
        with torch.no_grad():
            ent = -(logprobs.exp() * logprobs).sum(-1)
    rows = seq[keep]
    n = int(batch["seq_ids"].max()) + 1
    counts = torch.bincount(rows, minlength=n)
    width = int(counts.max()) if n else 0
    starts = torch.cumsum(counts, 0) - counts
    cols = torch.arange(rows.numel(), device=device) - starts[rows]
    out = picked.new_zeros(n, width)
    out = out.index_put((rows, cols), picked)
    mask = torch.zeros(n, width, device=device)
    mask[rows, cols] = 1.0
    ent_out = None
    if ent is not None:
        ent_out = torch.zeros(n, width, device=device)
        ent_out[rows, cols] = ent
    return out, mask, ent_out


def split_evenly(n: int, parts: int) -> list[range]:
    """`parts` consecutive ranges covering range(n) (sizes differ by at most one; some may
    be empty when n < parts)."""
    base, extra = divmod(n, parts)
    out, start = [], 0
    for i in range(parts):
        size = base + (i < extra)
        out.append(range(start, start + size))
        start += size
    return out
