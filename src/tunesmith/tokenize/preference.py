"""Preference records -> token ids through the chat template of the tokenize package.

Each answer becomes one sequence `prompt + answer`: the prompt (system, user and any earlier
assistant turns, rendered as history) is never scored; the answer's rendered text and the
closing `<｜end▁of▁sentence｜>` are, with a DeepSeek-R1 `<think>` block rendered as SFT
renders the last assistant turn. A sequence longer than `max_len` keeps its prompt and loses
the end of its answer; a prompt that leaves no room for an answer token drops the record.

KTO records also get a mismatched sequence for the KL estimate z0: the prompt of record i with
the answer of record i - 1 (in file order; the first takes the last), as TRL builds it.

Micro-batches (`collate_items`): packed (data.packing, the default), the two sequences of every
item are laid end to end in one row, position ids restarting at 0 for each, exactly as SFT
packs samples, so the `tunesmith_varlen` attention runs causal SDPA per sequence and no token
sees another sequence. Padded: one sequence per row, right-padded to the longest (what TRL
does). Either way the batch carries `seq_ids` beside `targets`: the sequence (item k's at 2k
and 2k + 1) each target belongs to, for evaluation/pairwise.sequence_logps.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.records import Conversation, Message, PreferenceRecord
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.masking import encode_segments
from tunesmith.tokenize.packing import IGNORE, Sample, pack_bins
from tunesmith.tokenize.templates import Segment, render_segments


@dataclass
class PreferenceItem:
    """The sequences of one record: (chosen, rejected) for a pair; (completion, mismatched
    completion for the KL estimate) for KTO. `index` is the record's position in its split."""

    sequences: tuple[Sample, Sample]
    index: int
    desirable: bool | None = None

    @property
    def length(self) -> int:
        return sum(len(s.input_ids) for s in self.sequences)


@dataclass
class EncodeCounts:
    records: int = 0
    kept: int = 0
    truncated: int = 0
    dropped_too_long: int = 0
    rejected: int = 0
    tokens: int = 0
    target_tokens: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return out | self.extra


def encode_answer(
    tok: PreTrainedTokenizerBase, prompt: list[Message], answer: Message, max_len: int
) -> tuple[Sample, bool] | None:
    """(sample, truncated) of `prompt + answer` scoring only the answer, or None when the
    prompt leaves no room for an answer token within `max_len`."""
    segments = render_segments(Conversation(messages=[*prompt, answer]))
    segments = [Segment(s.text, False) for s in segments[:-1]] + [segments[-1]]
    ids, labels = encode_segments(tok, segments)
    prompt_len = next(i for i, label in enumerate(labels) if label != IGNORE)
    if prompt_len >= max_len:
        return None
    truncated = len(ids) > max_len
    ids, labels = ids[:max_len], labels[:max_len]
    return Sample.from_labels(ids, labels), truncated


def encode_records(
    tok: PreTrainedTokenizerBase, records: list[PreferenceRecord], max_len: int,
    counts: EncodeCounts | None = None,
) -> list[PreferenceItem]:  # fmt: skip
    """Items of `records` (index = position in `records`); counts updated when given."""
    counts = counts or EncodeCounts()
    items: list[PreferenceItem] = []
    n = len(records)
    for i, rec in enumerate(records):
        counts.records += 1
        second = rec.rejected if rec.paired else records[(i - 1) % n].chosen
        first_enc = encode_answer(tok, rec.prompt, rec.chosen, max_len)
        second_enc = encode_answer(tok, rec.prompt, second, max_len)
        if first_enc is None or second_enc is None:
            counts.dropped_too_long += 1
            continue
        (a, cut_a), (b, cut_b) = first_enc, second_enc
        counts.kept += 1
        counts.truncated += int(cut_a or cut_b)
        counts.tokens += len(a.input_ids) + len(b.input_ids)
        counts.target_tokens += a.n_targets + (b.n_targets if rec.paired else 0)
        items.append(PreferenceItem((a, b), i, rec.desirable))
    return items


NON_MODEL_KEYS = ("targets", "seq_ids", "index", "desirable")


def _sequences(items: list[PreferenceItem]) -> list[Sample]:
    return [s for item in items for s in item.sequences]


def _seq_ids(samples: list[Sample]) -> list[list[int]]:
    return [[k if t != IGNORE else -1 for t in s.targets] for k, s in enumerate(samples)]


def collate_items(
    items: list[PreferenceItem], *, packing: bool, pad_id: int
) -> dict[str, torch.Tensor]:
    """Model inputs of `items` plus targets, seq_ids, the items' indices and KTO labels."""
    samples = _sequences(items)
    ids = _seq_ids(samples)
    if packing:
        batch = collate_packed(samples)
        batch["seq_ids"] = torch.tensor([[k for row in ids for k in row]])
    else:
        batch = collate_padded(samples, pad_id)
        seq = torch.full(batch["targets"].shape, -1)
        for row, values in enumerate(ids):
            seq[row, : len(values)] = torch.tensor(values)
        batch["seq_ids"] = seq
    batch["index"] = torch.tensor([item.index for item in items])
    batch["desirable"] = torch.tensor([bool(item.desirable) for item in items])
    return batch


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items() if k not in NON_MODEL_KEYS}


def n_sequences(batch: dict[str, torch.Tensor]) -> int:
    return 2 * int(batch["index"].numel())


def plan_items(
    items: list[PreferenceItem], *, packing: bool, batch_tokens: int, batch_size: int, seed: int
) -> list[list[int]]:
    """Deterministic micro-batches (lists of item positions) of one epoch: packed into at most
    `batch_tokens` tokens (an item's two sequences always travel together), or `batch_size`
    items each."""
    rng = random.Random(seed)
    if packing:
        groups = pack_bins([item.length for item in items], batch_tokens)
    else:
        order = list(range(len(items)))
        rng.shuffle(order)
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    return groups
