"""Preference records -> token ids through the chat template of the tokenize package.

Each answer becomes one sequence `prompt + answer`: the prompt (system, user and any earlier
assistant turns, rendered as history) is never scored; the answer's rendered text and the
closing `<｜end▁of▁sentence｜>` are, with a DeepSeek-R1 `<think>` block rendered as SFT
renders the last assistant turn. A sequence longer than `max_len` keeps its prompt and loses
the end of its answer; a prompt that leaves no room for an answer token drops the record.

KTO records also get a mismatched sequence for the KL estimate z0: the prompt of record i with
the answer of record i - 1 (in file order; the first takes the last), as TRL builds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from tunesmith.data.preference import PreferenceRecord
from tunesmith.data.types import Conversation, Message
from tunesmith.tokenize.masking import encode_segments
from tunesmith.tokenize.packing import IGNORE, Sample
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
