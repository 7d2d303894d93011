"""Token-weighted causal-LM loss: sums here, divided by the target count of the whole step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from tunesmith.tokenize.packing import IGNORE

if TYPE_CHECKING:
    from tunesmith.models.moe import RouterAuxLoss
    from tunesmith.training.distill import Distiller
    from tunesmith.training.distributed import Ranks


def forward_loss_sum(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of next-token cross-entropy over the batch's targets (not a mean)."""
    return logits_and_loss_sum(model, batch)[1]


def logits_and_loss_sum(
    model: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits, and the sum of next-token cross-entropy over the batch's targets."""
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
    logits = model(**inputs, use_cache=False).logits
    loss = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        batch["targets"].to(device).reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return logits, loss


def count_targets(batch: dict[str, torch.Tensor]) -> int:
    return int((batch["targets"] != IGNORE).sum())


def real_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens in the batch that are not padding."""
    if "attention_mask" in batch:
        return int(batch["attention_mask"].sum())
    return int(batch["input_ids"].numel())


@dataclass
class StepLoss:
    loss: float  # mean token loss over the global window
    tokens: int  # real (non-padding) tokens over the global window
    aux_loss: float | None  # router balance loss (MoE models), target-weighted
    kd_loss: float | None = None  # distillation term T^2 KL per target token (method distill)


def accumulate_gradients(
    accelerator: Any,
    model: torch.nn.Module,
    window: list[dict[str, torch.Tensor]],
    *,
    ranks: Ranks | None = None,
    router: RouterAuxLoss | None = None,
    aux_coef: float = 0.0,
    distill: Distiller | None = None,
) -> StepLoss:
    """Backward over a global window of micro-batches as if it were one batch.

    Each micro-batch's summed loss is divided by the target count of the whole window (all
    ranks), so the accumulated gradient equals the gradient of the window's mean token loss
    however the tokens are split between micro-batches and processes. The engines average
    gradients over ranks and `accelerator.backward` divides by the accumulation steps; the
    factor `steps x world` undoes both. Rank r runs micro-batches r, r + world, ...
    With `distill`, the distillation term is a sum over the same target tokens and is
    scaled alike; `loss` stays the cross-entropy.
    """
    local = ranks.local(window) if ranks is not None else window
    world = ranks.world if ranks is not None else 1
    counts = [count_targets(b) for b in local]
    (n_global,) = ranks.sum([float(sum(counts))]) if ranks is not None else [sum(counts)]
    scale = accelerator.gradient_accumulation_steps * world / max(1.0, n_global)
    loss_sum, aux_sum, kd_sum, tokens = 0.0, 0.0, 0.0, 0
    for batch, n in zip(local, counts, strict=True):
        with accelerator.accumulate(model):
            if router is not None:
                router.reset()
            with accelerator.autocast():
                logits, loss = logits_and_loss_sum(model, batch)
                kd = distill.kd_sum(logits, batch) if distill is not None else None
            del logits
            aux = router.loss() if router is not None else None
            objective = loss if kd is None else distill.objective(loss, kd)
            if aux is not None and aux_coef:
                objective = objective + aux_coef * aux * n
            accelerator.backward(objective * scale)
        loss_sum += float(loss.detach())
        aux_sum += float(aux.detach()) * n if aux is not None else 0.0
        kd_sum += float(kd.detach()) if kd is not None else 0.0
        tokens += real_tokens(batch)
    if ranks is not None:
        loss_sum, aux_sum, kd_sum, tokens = ranks.sum([loss_sum, aux_sum, kd_sum, float(tokens)])
        tokens = int(tokens)
    n = max(1.0, n_global)
    return StepLoss(
        loss_sum / n, tokens, aux_sum / n if router else None, kd_sum / n if distill else None
    )
