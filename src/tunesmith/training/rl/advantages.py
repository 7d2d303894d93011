"""Group-relative advantages and DAPO's two batch-shaping tools.

Completions arrive grouped: the `group_size` completions of one prompt are consecutive
(rewards[g * group_size : (g + 1) * group_size] belong to prompt g). A reward may be NaN
where every reward function returned None (the completion cannot be scored): it is left out
of its group's mean and std and gets advantage 0, as in TRL.
"""

from __future__ import annotations

import torch

SCALES = ("group", "batch", "none")
STD_EPS = 1e-4  # TRL's: (r - mean) / (std + 1e-4)


def nanstd(x: torch.Tensor, dim: int | None = None, keepdim: bool = False) -> torch.Tensor:
    """Sample standard deviation (Bessel-corrected) ignoring NaNs; NaN under two values."""
    mean = torch.nanmean(x, dim=dim, keepdim=True) if dim is not None else torch.nanmean(x)
    sq = (x - mean) ** 2
    var = torch.nanmean(sq, dim=dim, keepdim=keepdim) if dim is not None else torch.nanmean(sq)
    keep = ~torch.isnan(x)
    count = keep.sum(dim=dim, keepdim=keepdim) if dim is not None else keep.sum()
    corr = torch.where(count > 1, count / (count - 1).clamp(min=1), torch.nan)
    return torch.sqrt(var * corr)


def _groups(rewards: torch.Tensor, group_size: int) -> torch.Tensor:
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D [B], got shape {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(
            f"{rewards.numel()} rewards do not split into groups of group_size={group_size}"
        )
    return rewards.view(-1, group_size)


def group_advantages(rewards: torch.Tensor, group_size: int, scale: str = "group") -> torch.Tensor:
    """A_i = (r_i - mean of its group) / (std + 1e-4), [B] -> [B].

    scale: `group` divides by the std of the completion's group (GRPO, Shao et al. 2024),
    `batch` by the std of the whole batch (Hu 2025, REINFORCE++ arXiv:2501.03262; TRL's
    scale_rewards="batch"), `none` leaves the centred reward unscaled (Dr. GRPO, Liu et al.
    2025: the std term biases updates towards too easy and too hard questions). A group of
    equal rewards gets advantage 0 under every scale (no NaN); so do NaN rewards.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown advantage scale '{scale}' (expected one of {', '.join(SCALES)})")
    grouped = _groups(rewards, group_size)
    mean = torch.nanmean(grouped, dim=1).repeat_interleave(group_size)
    centred = rewards - mean
    if scale == "group":
        std = nanstd(grouped, dim=1).repeat_interleave(group_size)
    elif scale == "batch":
        std = nanstd(rewards).expand_as(rewards)
    else:
        return torch.nan_to_num(centred, nan=0.0)
    # a lone scored value has no std (NaN): it carries no signal, so its advantage is 0
    return torch.nan_to_num(centred / (std + STD_EPS), nan=0.0)


def constant_groups(rewards: torch.Tensor, group_size: int, atol: float = 1e-6) -> torch.Tensor:
    """[num_groups] True where a group's scored rewards are all equal (within atol), or it
    has none: such a group has zero advantage everywhere and teaches nothing. DAPO's
    dynamic sampling (Yu et al. 2025, Eq. 11) drops these groups and samples more prompts
    until the batch is full of groups with 0 < accuracy < 1."""
    grouped = _groups(rewards, group_size)
    scored = ~torch.isnan(grouped)
    hi = torch.where(scored, grouped, -torch.inf).amax(dim=1)
    lo = torch.where(scored, grouped, torch.inf).amin(dim=1)
    return (hi - lo <= atol) | (scored.sum(dim=1) < 2)


def overlong_penalty(
    lengths: torch.Tensor, max_len: int, cache_len: int, factor: float = 1.0
) -> torch.Tensor:
    """DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13), times `factor`:

        0                                  if L <= max_len - cache_len
        ((max_len - cache_len) - L) / cache_len   if max_len - cache_len < L <= max_len
        -1                                 if L > max_len

    `lengths` are completion lengths in tokens; a completion cut at the generation budget
    has L = max_len (it gets -1 only if longer, as in the paper and TRL's
    get_soft_overlong_punishment). cache_len = 0: a hard -1 beyond max_len only.
    """
    if cache_len < 0 or cache_len > max_len:
        raise ValueError(f"cache_len={cache_len} must be in [0, max_len={max_len}]")
    lengths = torch.as_tensor(lengths, dtype=torch.float32)
    start = max_len - cache_len
    ramp = (start - lengths) / max(cache_len, 1)
    out = torch.where(lengths <= start, torch.zeros_like(lengths), ramp)
    out = torch.where(lengths > max_len, torch.full_like(lengths, -1.0), out)
    return out * factor


def mask_truncated(mask: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """DAPO's overlong filtering (Yu et al. 2025, section 3.4): completions cut at the
    generation budget (`truncated` [B] bool) leave the loss (their mask rows become 0)."""
    return mask * (~truncated.bool()).to(mask.dtype).unsqueeze(-1)
