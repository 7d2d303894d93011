"""Token-weighted causal-LM loss: sums here, divided by the target count of the whole step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.tokenize.packing import IGNORE


def forward_loss_sum(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of next-token cross-entropy over the batch's targets (not a mean)."""
    inputs = {k: v for k, v in batch.items() if k != "targets"}
    logits = model(**inputs, use_cache=False).logits
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        batch["targets"].reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    return int((batch["targets"] != IGNORE).sum())
