"""Token-weighted causal-LM loss: sums here, divided by the target count of the whole step."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from tunesmith.tokenize.packing import IGNORE


def forward_loss_sum(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of next-token cross-entropy over the batch's targets (not a mean)."""
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
    logits = model(**inputs, use_cache=False).logits
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        batch["targets"].to(device).reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    return int((batch["targets"] != IGNORE).sum())


def real_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens in the batch that are not padding."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


def accumulate_gradients(
    accelerator: Any, model: torch.nn.Module, window: list[dict[str, torch.Tensor]]
) -> tuple[float, int]:
    """Backward over a window of micro-batches as if it were one batch.

    Each micro-batch's summed loss is divided by the target count of the whole window, so
    the accumulated gradient equals the gradient of the window's mean token loss, however
    the tokens are split between micro-batches. Returns (mean token loss, real tokens).
    """
    n_targets = max(1, sum(count_targets(b) for b in window))
    loss_sum, tokens = 0.0, 0
    for batch in window:
        with accelerator.autocast():
            loss = forward_loss_sum(model, batch)
        accelerator.backward(loss / n_targets)
        loss_sum += float(loss.detach())
        tokens += real_tokens(batch)
    return loss_sum / n_targets, tokens
