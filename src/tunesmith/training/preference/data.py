"""From the data section to encoded preference items for train / validation, with counts,
and the stream of micro-batches the recipe trains on (its position is part of TrainState)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.data.preference import PreferenceData, PreferenceRecord, load_preference
from tunesmith.errors import ConfigError
from tunesmith.records import Message
from tunesmith.tokenize.preference import (
    EncodeCounts,
    PreferenceItem,
    collate_items,
    encode_records,
    plan_items,
)
from tunesmith.training.state import TrainState


@dataclass
class PreferenceSplits:
    train: list[PreferenceItem]
    validation: list[PreferenceItem]
    stats: dict[str, EncodeCounts] = field(default_factory=dict)


def _with_system(records: list[PreferenceRecord], system: str | None) -> None:
    if system is None:
        return
    for rec in records:
        if rec.prompt[0].role != "system":
            rec.prompt.insert(0, Message("system", system))


def _check_kind(data: PreferenceData, loss: str, where: str) -> None:
    if not data.records:
        return
    if loss == "kto" and data.paired:
        raise ConfigError(
            f"{where}: preference.loss=kto trains on unpaired records (prompt, completion, "
            "label) but the data is paired (chosen / rejected); use a paired loss such as dpo"
        )
    if loss != "kto" and not data.paired:
        raise ConfigError(
            f"{where}: preference.loss={loss} needs paired records (prompt, chosen, rejected) "
            "but the data is unpaired (completion / label); use preference.loss=kto"
        )


def load_splits(cfg: Config, tok: PreTrainedTokenizerBase) -> PreferenceSplits:
    """Train and validation items (validation: data.validation, else data.val_split held out
    with train.seed)."""
    d = cfg.data
    if not d.train:
        raise ConfigError("data.train: no training files given (expected a list of paths)")
    if d.format != "auto":
        raise ConfigError(
            f"data.format: '{d.format}' is an SFT format; recipe=preference auto-detects its "
            "own formats (pair, pair_messages, pair_implicit, pair_sharegpt, kto): set auto"
        )
    train = load_preference(d.train, on_error=d.on_error)
    _check_kind(train, cfg.preference.loss, "data.train")
    train_records, val_records = train.records, []
    val_rejected = 0
    if d.validation:
        val = load_preference(d.validation, on_error=d.on_error)
        _check_kind(val, cfg.preference.loss, "data.validation")
        val_records, val_rejected = val.records, val.rejected
    elif d.val_split > 0:
        order = list(range(len(train_records)))
        random.Random(cfg.train.seed).shuffle(order)
        held = set(order[: max(1, round(d.val_split * len(order)))])
        val_records = [r for i, r in enumerate(train_records) if i in held]
        train_records = [r for i, r in enumerate(train_records) if i not in held]
    _with_system(train_records + val_records, d.system_prompt)
    stats = {
        "train": EncodeCounts(rejected=train.rejected),
        "validation": EncodeCounts(rejected=val_rejected),
    }
    items = encode_records(tok, train_records, d.max_len, stats["train"])
    val_items = encode_records(tok, val_records, d.max_len, stats["validation"])
    if not items:
        st = stats["train"]
        raise ConfigError(
            f"data.train: no usable preference records in {', '.join(d.train)}: {st.records} "
            f"records, {st.dropped_too_long} with a prompt of data.max_len={d.max_len} tokens "
            f"or more, {st.rejected} rejected"
        )
    return PreferenceSplits(items, val_items, stats)


def describe_counts(name: str, st: EncodeCounts, max_len: int) -> str:
    return (
        f"data {name}: {st.records:,} records -> {st.kept:,} items ({st.truncated:,} with an "
        f"answer cut at data.max_len={max_len}, {st.dropped_too_long:,} dropped: prompt too "
        f"long, {st.rejected:,} rejected); {st.tokens:,} tokens, {st.target_tokens:,} scored"
    )


class ItemStream:
    """Micro-batches of items in a fixed order per (seed, epoch)."""

    def __init__(self, items: list[PreferenceItem], cfg: Config, pad_id: int) -> None:
        self.items, self.cfg, self.pad_id = items, cfg, pad_id

    def plan(self, epoch: int) -> list[list[int]]:
        t = self.cfg.train
        return plan_items(
            self.items, packing=self.cfg.data.packing, batch_tokens=t.batch_tokens,
            batch_size=t.batch_size, seed=t.seed + epoch,
        )  # fmt: skip

    def collate(self, group: list[int]) -> dict[str, torch.Tensor]:
        items = [self.items[i] for i in group]
        return collate_items(items, packing=self.cfg.data.packing, pad_id=self.pad_id)

    def next(self, state: TrainState) -> dict[str, torch.Tensor]:
        plan = self.plan(state.epoch)
        if state.batch_in_epoch >= len(plan):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            plan = self.plan(state.epoch)
        group = plan[state.batch_in_epoch]
        state.batch_in_epoch += 1
        return self.collate(group)

    def window(self, state: TrainState, size: int) -> list[dict[str, torch.Tensor]]:
        return [self.next(state) for _ in range(size)]

    def total_steps(self, window_size: int) -> int:
        t = self.cfg.train
        steps_per_epoch = max(1, math.ceil(len(self.plan(0)) / window_size))
        return t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))

    def all_batches(self) -> list[dict[str, torch.Tensor]]:
        """Every item once, in packed order (validation)."""
        if not self.items:
            return []
        return [self.collate(g) for g in sorted(self.plan(0), key=min)]
