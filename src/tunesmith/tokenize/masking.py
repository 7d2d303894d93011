"""Token ids and loss labels for one sample, with exact mask boundaries.

Each rendered segment (see templates.render_segments) is tokenized on its own, without added
special tokens. Segment boundaries always touch a special token, which the tokenizer splits out
anyway, so the concatenated ids equal the ids of the whole rendered string (tests pin this).

By default loss falls only on assistant turns: each turn's rendered text plus the
`<｜end▁of▁sentence｜>` closing it. `train_on_prompt=True` trains every token but bos. Text
samples train every token but bos.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from tunesmith.records import Conversation
from tunesmith.tokenize.packing import IGNORE
from tunesmith.tokenize.templates import Segment, render_segments

TRUNCATION_POLICIES = ("right", "left", "drop")


@dataclass
class EncodedSample:
    input_ids: list[int]
    labels: list[int]  # IGNORE (-100) where no loss; otherwise equal to input_ids
    truncated: bool


def encode_segments(
    tok: PreTrainedTokenizerBase, segments: list[Segment], train_on_prompt: bool = False
) -> tuple[list[int], list[int]]:
    """Ids and labels of rendered segments; the first segment (bos) is never trained."""
    pieces = tok([s.text for s in segments], add_special_tokens=False)["input_ids"]
    ids: list[int] = []
    labels: list[int] = []
    for k, (segment, piece) in enumerate(zip(segments, pieces, strict=True)):
        trained = k > 0 and (segment.trainable or train_on_prompt)
        ids += piece
        labels += piece if trained else [IGNORE] * len(piece)
    return ids, labels


def encode_conversation(
    tok: PreTrainedTokenizerBase,
    conv: Conversation,
    max_len: int,
    train_on_prompt: bool = False,
    truncation: str = "right",
) -> EncodedSample | None:
    """Encode a chat or text sample into at most `max_len` ids with loss labels.

    truncation: "right" keeps the first `max_len` tokens; "left" keeps bos and the last
    `max_len - 1` tokens; "drop" returns None for a sample longer than `max_len`.
    Also returns None when no token is left to train on (no assistant turn, or truncation cut
    every trained token); the caller counts those as dropped.
    """
    if truncation not in TRUNCATION_POLICIES:
        raise ValueError(f"truncation: '{truncation}' (expected one of {TRUNCATION_POLICIES})")
    if max_len < 2:
        raise ValueError(f"max_len: {max_len} (expected at least 2)")
    ids, labels = encode_segments(tok, render_segments(conv), train_on_prompt)
    truncated = len(ids) > max_len
    if truncated:
        if truncation == "drop":
            return None
        if truncation == "right":
            ids, labels = ids[:max_len], labels[:max_len]
        else:
            keep = max_len - 1
            ids, labels = ids[:1] + ids[-keep:], labels[:1] + labels[-keep:]
    if all(label == IGNORE for label in labels):
        return None
    return EncodedSample(ids, labels, truncated)
