"""MoE router load-balancing loss (DeepSeek / Switch style), collected with forward hooks.

For each MoE layer with routers returning (logits, top-k weights, top-k indices), over the
T tokens of a forward pass with E experts and k chosen per token:

    f_i = E / (k T) * #{t : i in topk(t)}        (share of routed slots, 1 when balanced)
    P_i = mean_t s'_{t,i}                          (s' = affinities normalised per token)
    L   = sum_i f_i P_i                            (1.0 when perfectly balanced)

DeepSeek-V3 routes on sigmoid affinities, DeepSeek-V2 on softmax. The loss is the mean
over MoE layers; `train.router_aux_loss_coef` weighs it into the training loss.
"""

from __future__ import annotations

import torch

SIGMOID_TYPES = ("deepseek_v3",)


def router_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if type(m).__name__.endswith("TopkRouter")]


def balance_loss(logits: torch.Tensor, indices: torch.Tensor, *, sigmoid: bool) -> torch.Tensor:
    """L = sum_i f_i P_i for one layer (logits [T, E], indices [T, k])."""
    n_tokens, n_experts = logits.shape
    k = indices.shape[-1]
    if sigmoid:
        scores = logits.float().sigmoid()
        scores = scores / scores.sum(-1, keepdim=True).clamp_min(1e-20)
    else:
        scores = logits.float().softmax(-1)
    counts = torch.zeros(n_experts, device=logits.device).index_add_(
        0, indices.reshape(-1), torch.ones(indices.numel(), device=logits.device)
    )
    f = counts * n_experts / (k * max(n_tokens, 1))
    return (f * scores.mean(0)).sum()


class RouterAuxLoss:
    """Collects (logits, indices) of every router call in a forward pass."""

    def __init__(self, model: torch.nn.Module) -> None:
        text = getattr(model, "config", None)
        model_type = text.get_text_config().model_type if text is not None else ""
        self.sigmoid = model_type in SIGMOID_TYPES
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.handles = [m.register_forward_hook(self._hook) for m in router_modules(model)]

    def __bool__(self) -> bool:
        return bool(self.handles)

    def _hook(self, module: torch.nn.Module, args: object, output: object) -> None:
        logits, _, indices = output  # type: ignore[misc]
        self.calls.append((logits, indices))

    def reset(self) -> None:
        self.calls.clear()

    def loss(self) -> torch.Tensor | None:
        """Mean balance loss over the router calls since `reset` (None when there were none)."""
        if not self.calls:
            return None
        layers = [balance_loss(lg, ix, sigmoid=self.sigmoid) for lg, ix in self.calls]
        self.calls.clear()
        return torch.stack(layers).mean()

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
