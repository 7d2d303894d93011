"""Unstructured magnitude pruning: zero the smallest-magnitude weights of the decoder layers.

    stats = magnitude_prune(model, sparsity=0.5, scope="layer")   # {name: (zeros, numel)}

Pruned: every weight matrix (and DeepSeek's fused 3-D expert tensors) inside the decoder
layers. Kept whole: embeddings, the LM head, norms, biases and MoE routers (`mlp.gate`),
which are small and which the model is most sensitive to.

scope "layer": each weight tensor loses exactly round(sparsity x its size) entries.
scope "global": one magnitude threshold over all of them together, so the total is exact and
layers with larger weights keep more. Ties at the threshold are broken in tensor order,
so the count is exact either way. The weights stay dense tensors: zeros take the same space
on disk; the gain needs a sparse kernel or a compressor downstream.
"""

from __future__ import annotations

import re

import torch

SCOPES = ("layer", "global")
_LAYER = re.compile(r"\.layers\.(\d+)\.")


def prunable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The weight tensors magnitude pruning zeroes, by parameter name."""
    return {
        name: p
        for name, p in model.named_parameters()
        if p.ndim >= 2 and _LAYER.search(name) and not name.endswith(".mlp.gate.weight")
    }


def count(n: float) -> int:
    """round half up (Python's round() sends 0.5 to the even neighbour)."""
    return int(n + 0.5)


@torch.no_grad()
def zero_smallest(tensors: list[torch.Tensor], k: int) -> None:
    """Set the k smallest-magnitude entries of `tensors` (taken together) to zero, in place."""
    if k <= 0:
        return
    flat = torch.cat([t.detach().abs().flatten().float() for t in tensors])
    threshold = flat.kthvalue(k).values
    ties_left = k - int((flat < threshold).sum())
    del flat
    for t in tensors:
        size = t.abs().float()
        mask = size < threshold
        if ties_left > 0:
            ties = (size == threshold).flatten().nonzero().flatten()[:ties_left]
            mask.view(-1)[ties] = True
            ties_left -= ties.numel()
        t.masked_fill_(mask, 0)


def magnitude_prune(
    model: torch.nn.Module, sparsity: float, scope: str
) -> dict[str, tuple[int, int]]:
    """Zero `sparsity` of the prunable weights; returns {name: (zeros, numel)} counted after."""
    weights = prunable(model)
    if scope == "global":
        total = sum(p.numel() for p in weights.values())
        zero_smallest(list(weights.values()), count(sparsity * total))
    else:
        for p in weights.values():
            zero_smallest([p], count(sparsity * p.numel()))
    return zero_counts(model)


def zero_counts(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """(zeros, numel) of each prunable weight, as it is now."""
    return {n: (int((p == 0).sum()), p.numel()) for n, p in prunable(model).items()}


def sparsity_report(counts: dict[str, tuple[int, int]]) -> dict:
    """Overall, per decoder layer and per tensor sparsity (fractions of zeros)."""
    layers: dict[int, list[tuple[int, int]]] = {}
    for name, c in counts.items():
        layers.setdefault(int(_LAYER.search(name).group(1)), []).append(c)
    zeros = sum(z for z, _ in counts.values())
    total = sum(n for _, n in counts.values())
    return {
        "sparsity": zeros / max(total, 1),
        "pruned_weights": total,
        "zeroed": zeros,
        "layers": [
            {
                "layer": i,
                "sparsity": sum(z for z, _ in cs) / sum(n for _, n in cs),
                "min": min(z / n for z, n in cs),
                "max": max(z / n for z, n in cs),
            }
            for i, cs in sorted(layers.items())
        ],
        "tensors": {name: z / n for name, (z, n) in counts.items()},
    }
