"""Completions as training batches, and their per-token log-probs under a model.

A micro-batch packs its prompt + completion sequences into one row (position ids restart
at each sequence, the attention never crosses one: `model.attn_implementation`
tunesmith_varlen), so no padding is computed. With `share_prompts`, the completions of one
prompt (a GRPO group) share a single copy of it: the row holds the prompt once, then each
completion at positions continuing it, and `prefix_groups` tells the attention that each
completion sees its group's prompt and itself; with 8 completions of a 100-token prompt,
the prompt is computed once instead of 8 times, forward and backward, with the same
log-probs. `token_logps` returns the log-probs of the completion tokens as a right-padded
`[B, T]` tensor with its mask, the shape the policy loss takes; the head runs only on the
positions that predict a completion token, and the logits are divided by the sampling
temperature first, so the loss scores the distribution the rollout sampled from (as TRL
does).
"""

from __future__ import annotations

from typing import Any

import torch

SHARED_ATTENTION = "tunesmith_varlen"
"""the attention implementation that reads `prefix_groups` (others would ignore it)"""


def pack(
    prompts: list[list[int]], completions: list[list[int]], *, share_prompts: bool = False
) -> dict[str, Any]:
    """One packed row: input_ids and position_ids; per scored token (in completion order)
    score_index (the position whose logits predict it), score_targets (the token) and
    score_seq (its completion); prefix_groups when some prompt is shared (consecutive
    completions with equal prompts form a group)."""
    ids: list[int] = []
    pos: list[int] = []
    score_index: list[int] = []
    targets: list[int] = []
    seq: list[int] = []
    groups: list[tuple[int, int, list[tuple[int, int]]]] = []
    i = 0
    while i < len(prompts):
        j = i + 1
        while share_prompts and j < len(prompts) and prompts[j] == prompts[i]:
            j += 1
        prompt, start = prompts[i], len(ids)
        ids += prompt
        pos += range(len(prompt))
        members = []
        for k in range(i, j):
            c, c_start = completions[k], len(ids)
            ids += c
            pos += range(len(prompt), len(prompt) + len(c))
            score_index += [start + len(prompt) - 1, *range(c_start, c_start + len(c) - 1)]
            targets += c
            seq += [k] * len(c)
            members.append((c_start, len(c)))
        groups.append((start, len(prompt), members))
        i = j
    batch: dict[str, Any] = {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([pos]),
        "score_index": torch.tensor(score_index),
        "score_targets": torch.tensor(targets),
        "score_seq": torch.tensor(seq),
    }
    if any(len(members) > 1 for _, _, members in groups):
        batch["prefix_groups"] = groups
    return batch


def token_logps(
    model: torch.nn.Module, batch: dict[str, Any], temperature: float = 1.0,
    *, entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """(log-probs `[B, T]`, mask `[B, T]`, entropies `[B, T]` or None) of the completion
    tokens of a packed batch; B = its completions, T = the longest one."""
    device = next(model.parameters()).device
    inputs = {k: batch[k].to(device) for k in ("input_ids", "position_ids")}
    if "prefix_groups" in batch:
        inputs["prefix_groups"] = batch["prefix_groups"]
    where = batch["score_index"].to(device)
    targets = batch["score_targets"].to(device)
    rows = batch["score_seq"].to(device)
    # the head runs on the scoring positions only (prompt positions need no logits)
    logits = model(**inputs, use_cache=False, logits_to_keep=where).logits[0]
    scored = logits.float()
    if temperature != 1.0:
        scored = scored / temperature
    logprobs = torch.log_softmax(scored, dim=-1)
    picked = logprobs.gather(1, targets.unsqueeze(1)).squeeze(1)
    ent = None
    if entropy:
        with torch.no_grad():
            ent = -(logprobs.exp() * logprobs).sum(-1)
    n = int(rows.max()) + 1
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


def shares_prompts(model: torch.nn.Module) -> bool:
    """Whether `model` attends with the implementation that honours `prefix_groups`."""
    config = getattr(model, "config", None)
    return getattr(config, "_attn_implementation", None) == SHARED_ATTENTION


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
