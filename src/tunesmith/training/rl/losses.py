"""The GRPO family's clipped policy objective on per-token log-probs, in plain torch.

Inputs are what one forward pass over a batch of completions gives: per-token log-probs of
the completion tokens under the policy being trained (`logps`), under the policy that
generated them (`old_logps`, from the rollout; equal to `logps.detach()` on the first update
of a rollout batch) and, for the KL penalty, under the reference (`ref_logps`). `mask` marks
completion tokens (1) against padding (0); `advantages` holds one value per completion.

Per token, with ratio r = exp(logps - old_logps) and advantage A:

    loss_t = -min(r A, clip(r, 1 - epsilon_low, 1 + epsilon_high) A) + beta KL_t
    KL_t   = exp(ref - logps) - (ref - logps) - 1          (Schulman's k3 estimator, >= 0)

The variants differ in the importance ratio and in how token losses become one number:

    loss_type  paper                                        ratio     reduction
    grpo       Shao et al. 2024 (DeepSeekMath),             token     mean over each sequence's
               arXiv:2402.03300, Eq. 3                                tokens, then over sequences
    dr_grpo    Liu et al. 2025 (Understanding R1-Zero-      token     sum over all tokens /
               Like Training), arXiv:2503.20783, Eq. 2                (sequences x max_completion_length)
    dapo       Yu et al. 2025 (DAPO), arXiv:2503.14476,     token     sum over all tokens / token count
               Eq. 8 (token-level loss, clip-higher)                  (of the whole batch: `num_tokens`)
    gspo       Zheng et al. 2025 (Group Sequence Policy     sequence  as grpo (one ratio per
               Optimization), arXiv:2507.18071, Eq. 5-7               sequence: exp of the mean
                                                                      per-token log-ratio)

Each equals TRL's `GRPOTrainer._compute_loss` (trl 1.16: loss_type grpo / dr_grpo / dapo,
and gspo as loss_type="grpo" with importance_sampling_level="sequence") on the same inputs;
tests/unit/rl/test_rl_losses_trl.py asserts it to 1e-6, gradients included. Dr. GRPO also drops
the std scaling of advantages (`advantages.group_advantages(..., scale="none")`); DAPO also
drops groups of equal rewards (`advantages.constant_groups`) and punishes overlong answers
(`advantages.overlong_penalty`): those live with the advantages, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "gspo")


@dataclass(frozen=True)
class PolicyLossConfig:
    """Settings of the clipped objective (defaults as TRL's GRPOConfig, loss_type aside)."""

    loss_type: str = "grpo"
    """grpo | dr_grpo | dapo | gspo (see the module docstring for the paper of each)."""
    epsilon_low: float = 0.2
    """Lower clip: the ratio is clipped at 1 - epsilon_low."""
    epsilon_high: float = 0.2
    """Upper clip: 1 + epsilon_high. DAPO's clip-higher raises it (the paper uses 0.28);
    GSPO's sequence ratios use a far narrower range (the paper: 3e-4 low, 4e-4 high)."""
    beta: float = 0.0
    """KL coefficient against the reference (k3 estimator); 0 needs no reference model."""
    max_completion_length: int = 256
    """Dr. GRPO's constant normaliser: the generation budget in tokens."""

    def __post_init__(self) -> None:
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(
                f"unknown loss_type '{self.loss_type}' (expected one of {', '.join(LOSS_TYPES)})"
            )
        if self.epsilon_low < 0 or self.epsilon_high < 0:
            raise ValueError("epsilon_low and epsilon_high must be >= 0")
        if self.epsilon_low >= 1:
            raise ValueError(f"epsilon_low={self.epsilon_low} must be below 1")
        if self.beta < 0:
            raise ValueError(f"beta={self.beta} must be >= 0")
        if self.max_completion_length < 1:
            raise ValueError("max_completion_length must be >= 1")


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean over completion tokens, or over sequences when x holds one value per sequence
    (as TRL's metric: a [B, 1] ratio counts once per sequence)."""
    if x.shape[-1] == 1:
        return float(x.float().mean()) if x.numel() else 0.0
    return float((x * mask).sum() / mask.sum().clamp(min=1.0))


def importance_log_weights(
    logps: torch.Tensor, old_logps: torch.Tensor, mask: torch.Tensor, loss_type: str
) -> torch.Tensor:
    """log r: per token [B, T], or for gspo per sequence [B, 1] (the mean over its tokens)."""
    log_ratio = logps - old_logps
    if loss_type != "gspo":
        return log_ratio
    seq = (log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    return seq.unsqueeze(-1)


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference) estimate exp(d) - d - 1 with d = ref - logps."""
    d = ref_logps - logps
    return torch.exp(d) - d - 1


def _reduce(per_token: torch.Tensor, mask: torch.Tensor, cfg: PolicyLossConfig,
            num_tokens: float | torch.Tensor | None) -> torch.Tensor:  # fmt: skip
    masked = per_token * mask
    if cfg.loss_type in ("grpo", "gspo"):
        return (masked.sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if cfg.loss_type == "dr_grpo":
        return masked.sum() / (mask.shape[0] * cfg.max_completion_length)
    total = mask.sum() if num_tokens is None else torch.as_tensor(num_tokens, dtype=mask.dtype)
    return masked.sum() / total.clamp(min=1.0)


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cfg: PolicyLossConfig,
    ref_logps: torch.Tensor | None = None,
    *,
    entropies: torch.Tensor | None = None,
    num_tokens: float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one micro-batch (a scalar with gradient through `logps`) and its stats.

    logps, old_logps, ref_logps, entropies: [B, T] per completion token; mask: [B, T]
    (1 = completion token); advantages: [B] (or [B, T]). `ref_logps` is needed when
    cfg.beta > 0 (and, given with beta = 0, still reported as `kl`).
    num_tokens (dapo only): the completion-token count the token-level mean divides by,
    when one rollout batch is split into micro-batches (DAPO averages over every token of
    the batch); default: this micro-batch's `mask.sum()`. Under DDP, which averages
    gradients over ranks, pass the count over all ranks divided by the number of ranks
    (TRL's num_items_in_batch / num_processes). grpo / gspo / dr_grpo are means over
    sequences: a caller that accumulates k micro-batches divides each loss by k, as TRL.

    Stats, named as TRL logs them: `clip_ratio/low_mean` (ratio below 1 - epsilon_low
    where A < 0), `clip_ratio/high_mean` (above 1 + epsilon_high where A > 0),
    `clip_ratio/region_mean` (either), each a mean over completion tokens (over sequences
    for gspo); `kl` (mean k3 over completion tokens) when a reference is given; `entropy`
    when `entropies` is given.
    """
    if cfg.beta > 0 and ref_logps is None:
        raise ValueError(f"beta={cfg.beta} needs the reference log-probs (ref_logps)")
    mask = mask.to(logps.dtype)
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    adv = adv.to(logps.dtype)
    ratio = torch.exp(importance_log_weights(logps, old_logps, mask, cfg.loss_type))
    clipped = torch.clamp(ratio, 1 - cfg.epsilon_low, 1 + cfg.epsilon_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl = k3_kl(logps, ref_logps) if ref_logps is not None else None
    if cfg.beta > 0 and kl is not None:
        per_token = per_token + cfg.beta * kl
    loss = _reduce(per_token, mask, cfg, num_tokens)
    with torch.no_grad():
        low = ((ratio < 1 - cfg.epsilon_low) & (adv < 0)).to(mask.dtype)
        high = ((ratio > 1 + cfg.epsilon_high) & (adv > 0)).to(mask.dtype)
        stats = {
            "clip_ratio/low_mean": _masked_mean(low, mask),
            "clip_ratio/high_mean": _masked_mean(high, mask),
            "clip_ratio/region_mean": _masked_mean(torch.maximum(low, high), mask),
        }
        if kl is not None:
            stats["kl"] = _masked_mean(kl, mask)
        if entropies is not None:
            stats["entropy"] = _masked_mean(entropies, mask)
    return loss, stats
