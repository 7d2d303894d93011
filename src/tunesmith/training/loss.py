"""Token-weighted causal-LM loss: sums here, divided by the target count of the whole step."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F

from tunesmith.tokenize.packing import IGNORE
from tunesmith.training.offload import offloaded

if TYPE_CHECKING:
    from tunesmith.models.moe import RouterAuxLoss
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
class Terms:
    """What an objective returns for one micro-batch, all sums over its `weight` units."""

    loss: torch.Tensor  # reported as `loss` (the cross-entropy, for the LM objectives)
    objective: torch.Tensor  # what is backpropagated
    logs: dict[str, torch.Tensor] = field(default_factory=dict)  # more sums, e.g. kd_loss


class Objective(Protocol):
    """A recipe's loss on one micro-batch. The step's mean is taken over `weight` units of the
    whole accumulation window (target tokens for the LM losses; a preference recipe may count
    pairs), so accumulation and processes split the work without changing the gradient."""

    def weight(self, batch: dict[str, torch.Tensor]) -> int: ...

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Terms: ...


@dataclass
class CrossEntropy:
    """recipe=sft: the sum of next-token cross-entropy over the batch's targets, computed by
    `impl` (train.loss_impl resolved: plain, chunked or liger; training/loss_head.py)."""

    impl: str = "plain"
    chunk: int = 0  # rows per chunk of the chunked loss; 0 = automatic

    def weight(self, batch: dict[str, torch.Tensor]) -> int:
        return count_targets(batch)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Terms:
        from tunesmith.training.loss_head import loss_sums

        loss = loss_sums(model, batch, self.impl, chunk=self.chunk)[0]
        return Terms(loss, loss)


@dataclass
class StepLoss:
    loss: float  # mean `loss` term per unit over the global window
    tokens: int  # real (non-padding) tokens over the global window
    aux_loss: float | None  # router balance loss (MoE models), target-weighted
    extras: dict[str, float] = field(default_factory=dict)  # the objective's other terms

    @property
    def kd_loss(self) -> float | None:
        """The distillation term T^2 KL per target token (recipe distill)."""
        return self.extras.get("kd_loss")


def accumulate_gradients(
    accelerator: Any,
    model: torch.nn.Module,
    window: list[dict[str, torch.Tensor]],
    objective: Objective | None = None,
    *,
    ranks: Ranks | None = None,
    router: RouterAuxLoss | None = None,
    aux_coef: float = 0.0,
    offload: bool = False,
) -> StepLoss:
    """Backward over a global window of micro-batches as if it were one batch.

    Each micro-batch's summed objective is divided by the weight (target count) of the whole
    window (all ranks), so the accumulated gradient equals the gradient of the window's mean
    token loss however the tokens are split between micro-batches and processes. The engines
    average gradients over ranks and `accelerator.backward` divides by the accumulation steps;
    the factor `steps x world` undoes both. Rank r runs micro-batches r, r + world, ...
    `objective` defaults to the cross-entropy (recipe sft). `offload`: the forward's saved
    activations live in pinned host memory (train.offload_activations, CUDA).
    """
    objective = objective or CrossEntropy()
    local = ranks.local(window) if ranks is not None else window
    world = ranks.world if ranks is not None else 1
    counts = [objective.weight(b) for b in local]
    (n_global,) = ranks.sum([float(sum(counts))]) if ranks is not None else [sum(counts)]
    scale = accelerator.gradient_accumulation_steps * world / max(1.0, n_global)
    loss_sum, aux_sum, tokens = 0.0, 0.0, 0
    extra_sums: dict[str, float] = {}
    for batch, n in zip(local, counts, strict=True):
        with accelerator.accumulate(model):
            if router is not None:
                router.reset()
            with accelerator.autocast(), offloaded(offload, accelerator.device):
                terms = objective(model, batch)
            aux = router.loss() if router is not None else None
            total = terms.objective
            if aux is not None and aux_coef:
                total = total + aux_coef * aux * n
            accelerator.backward(total * scale)
        loss_sum += float(terms.loss.detach())
        aux_sum += float(aux.detach()) * n if aux is not None else 0.0
        for key, value in terms.logs.items():
            extra_sums[key] = extra_sums.get(key, 0.0) + float(value.detach())
        tokens += real_tokens(batch)
    names = sorted(extra_sums)
    if ranks is not None:
        *sums, tokens = ranks.sum(
            [loss_sum, aux_sum, *(extra_sums[k] for k in names), float(tokens)]
        )
        loss_sum, aux_sum = sums[0], sums[1]
        extra_sums = dict(zip(names, sums[2:], strict=True))
        tokens = int(tokens)
    n = max(1.0, n_global)
    return StepLoss(
        loss_sum / n,
        tokens,
        aux_sum / n if router else None,
        {k: extra_sums[k] / n for k in names},
    )
