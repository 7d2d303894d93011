"""Micro-batches in a fixed order per (seed, epoch); the position is part of TrainState."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import Sample, plan_batches
from tunesmith.training.data import EncodeStats
from tunesmith.training.state import TrainState
from tunesmith.training.streaming import StreamingBatches


class BatchStream:
    """Micro-batches in a fixed order per (seed, epoch); its position is part of TrainState."""

    def __init__(self, samples: list[Sample], cfg: Config, pad_id: int) -> None:
        self.samples, self.cfg, self.pad_id = samples, cfg, pad_id
        self._planned: tuple[int, list[list[int]]] | None = None

    def plan(self, epoch: int) -> list[list[int]]:
        """The epoch's micro-batches, planned once per epoch (as torchtune's set_epoch)."""
        if self._planned is None or self._planned[0] != epoch:
            self._planned = (epoch, self._plan(epoch))
        return self._planned[1]

    def _plan(self, epoch: int) -> list[list[int]]:
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


def train_batches(
    cfg: Config,
    samples: list[Sample],
    stats: EncodeStats,
    tok: PreTrainedTokenizerBase,
    run_dir: Path,
    is_main: bool,
) -> BatchStream | StreamingBatches:
    """The recipe's batches: planned from `samples`, or read as a stream (data.streaming),
    whose rejects (data.on_error=skip) rank 0 appends to RUN/rejects.jsonl."""
    if not cfg.data.streaming:
        return BatchStream(samples, cfg, tok.pad_token_id)
    skip = is_main and cfg.data.on_error == "skip"
    return StreamingBatches(cfg, tok, stats, rejects=run_dir / "rejects.jsonl" if skip else None)
