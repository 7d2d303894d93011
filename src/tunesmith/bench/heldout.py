"""One held-out loss function for both arms, so "equal final loss" compares like with like.

Each held-out sample runs alone (no padding, no packing, eval mode): the mean next-token
cross-entropy over every assistant token of the set.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from tunesmith.data.load import load_conversations
from tunesmith.tokenize.masking import EncodedSample, encode_conversation
from tunesmith.tokenize.packing import IGNORE


def encode_file(
    path: str | Path, tok: PreTrainedTokenizerBase, max_len: int
) -> list[EncodedSample]:
    """Records of a `messages` jsonl, encoded with tunesmith's chat template and loss mask."""
    convs = load_conversations([path], fmt="messages").conversations
    encoded = [encode_conversation(tok, c, max_len, truncation="right") for c in convs]
    return [e for e in encoded if e is not None]


@torch.no_grad()
def mean_token_loss(model: torch.nn.Module, samples: list[EncodedSample]) -> float:
    """Mean next-token loss over all labelled tokens of `samples`, one sample per forward."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for s in samples:
        logits = model(input_ids=torch.tensor([s.input_ids]), use_cache=False).logits[0, :-1]
        targets = torch.tensor(s.labels[1:])
        total += float(
            F.cross_entropy(logits.float(), targets, ignore_index=IGNORE, reduction="sum")
        )
        count += int((targets != IGNORE).sum())
    model.train(was_training)
    return total / max(count, 1)
