"""AdamW over the trainable parameters and the warmup + decay schedules."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from tunesmith.config.schema import TrainConfig


def build_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, *, lora_plus_ratio: float = 0.0
) -> torch.optim.AdamW:
    """AdamW; biases and norm weights (1-D params) get no weight decay.

    LoRA+ (`lora_plus_ratio` > 0): the B matrices learn at lr x ratio (Hayou et al., 2024).
    """
    decay, no_decay, lora_b = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if lora_plus_ratio and "lora_B" in name:
            lora_b.append(p)
        else:
            (no_decay if p.ndim < 2 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
        {"params": lora_b, "weight_decay": cfg.weight_decay, "lr": cfg.lr * lora_plus_ratio},
    ]
    return torch.optim.AdamW(
        [g for g in groups if g["params"]],
        lr=cfg.lr,
        betas=(cfg.adam_beta1, cfg.adam_beta2),
        eps=cfg.adam_eps,
    )


def warmup_steps(cfg: TrainConfig, total_steps: int) -> int:
    if cfg.warmup_steps > 0:
        return cfg.warmup_steps
    return int(round(cfg.warmup_ratio * total_steps))


def lr_factor(step: int, *, kind: str, warmup: int, total: int) -> float:
    """Multiplier of the peak lr after `step` optimizer steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int
) -> LambdaLR:
    warm = warmup_steps(cfg, total_steps)
    return LambdaLR(
        optimizer,
        lambda step: lr_factor(step, kind=cfg.scheduler, warmup=warm, total=total_steps),
    )
