"""The start-of-run report: trainable parameters, count and percent, by kind."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch

from tunesmith.config.schema import MethodConfig

_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def param_group(name: str) -> str:
    """What a trainable parameter is, for the report."""
    if "lora_magnitude" in name:
        return "dora magnitude"
    if "lora_" in name:
        return "lora"
    if "prompt_encoder" in name:
        return "prefix"
    if "trainable_tokens" in name:
        return "trainable tokens"
    if "modules_to_save" in name:
        return "modules_to_save"
    if _LAYER.search(name):
        return "decoder layers"
    if "embed" in name:
        return "embeddings"
    if "lm_head" in name:
        return "head"
    if "norm" in name:
        return "norms"
    return "other"


@dataclass
class MethodReport:
    method: str
    trainable: int
    total: int
    groups: dict[str, int] = field(default_factory=dict)
    layers: list[int] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.trainable / max(self.total, 1)

    def line(self) -> str:
        parts = ", ".join(f"{k} {v:,}" for k, v in self.groups.items())
        layers = f"; layers trained: {_ranges(self.layers)}" if self.method == "freeze" else ""
        return (
            f"method={self.method}: {self.trainable:,} trainable of {self.total:,} params "
            f"({self.percent:.2f}%) [{parts}]{layers}"
        )


def _ranges(ids: list[int]) -> str:
    if not ids:
        return "none"
    out, start, prev = [], ids[0], ids[0]
    for i in [*ids[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(f"{start}-{prev}" if prev > start else str(start))
        if i is not None:
            start = prev = i
    return ", ".join(out)


def method_report(model: torch.nn.Module, method: MethodConfig) -> MethodReport:
    groups: dict[str, int] = {}
    layers: set[int] = set()
    trainable = total = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if not p.requires_grad:
            continue
        trainable += p.numel()
        kind = param_group(name)
        groups[kind] = groups.get(kind, 0) + p.numel()
        if m := _LAYER.search(name):
            layers.add(int(m.group(1)))
    return MethodReport(method.name, trainable, total, groups, sorted(layers))
