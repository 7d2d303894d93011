"""Micro-batches in a fixed order per (seed, epoch); the position is part of TrainState."""

from __future__ import annotations

import math

import torch

from tunesmith.config.schema import Config
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import Sample, plan_batches
from tunesmith.training.state import TrainState


class BatchStream:
    """Micro-batches in a fixed order per (seed, epoch); its position is part of TrainState."""

    def __init__(self, samples: list[Sample], cfg: Config, pad_id: int) -> None:
        self.samples, self.cfg, self.pad_id = samples, cfg, pad_id

    def plan(self, epoch: int) -> list[list[int]]:
        t, d = self.cfg.train, self.cfg.data
        return plan_batches(
            self.samples,
            packing=d.packing,
            batch_tokens=t.batch_tokens,
            batch_size=t.batch_size,
            seed=t.seed + epoch,
        )

    def next(self, state: TrainState) -> dict[str, torch.Tensor]:
        plan = self.plan(state.epoch)
        if state.batch_in_epoch >= len(plan):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            plan = self.plan(state.epoch)
        group = [self.samples[i] for i in plan[state.batch_in_epoch]]
        state.batch_in_epoch += 1
        if self.cfg.data.packing:
            return collate_packed(group)
        return collate_padded(group, self.pad_id)

    def window(self, state: TrainState, size: int) -> list[dict[str, torch.Tensor]]:
        """The next `size` micro-batches: one optimizer step's global window."""
        return [self.next(state) for _ in range(size)]

    def total_steps(self, window_size: int) -> int:
        """Optimizer steps of the run: train.max_steps, else epochs x steps per epoch."""
        t = self.cfg.train
        steps_per_epoch = max(1, math.ceil(len(self.plan(0)) / window_size))
        return t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))
