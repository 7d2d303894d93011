"""Teacher forcing: per-sample token loss, and classification by label log-likelihood.

Samples are packed into rows of at most `batch_tokens` tokens (position ids restart per
sample, so no sample sees another), as training does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from tunesmith.records import Conversation
from tunesmith.tokenize.collate import collate_packed
from tunesmith.tokenize.masking import encode_conversation
from tunesmith.tokenize.packing import IGNORE, Sample, pack_bins
from tunesmith.tokenize.templates import EOS, render_prompt


@torch.no_grad()
def sample_losses(
    model: torch.nn.Module,
    samples: list[Sample],
    batch_tokens: int,
    advance: Callable[[int], None] | None = None,
) -> list[tuple[float, int]]:
    """(summed next-token loss, target count) of each sample, in input order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[tuple[float, int]] = [(0.0, 0)] * len(samples)
    for group in pack_bins([len(s.input_ids) for s in samples], batch_tokens):
        batch = collate_packed([samples[i] for i in group])
        inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
        logits = model(**inputs, use_cache=False).logits[0].float()
        targets = batch["targets"][0].to(device)
        losses = F.cross_entropy(logits, targets, ignore_index=IGNORE, reduction="none")
        start = 0
        for i in group:
            end = start + len(samples[i].input_ids)
            out[i] = (float(losses[start:end].sum()), samples[i].n_targets)
            start = end
        if advance is not None:
            advance(len(group))
    model.train(was_training)
    return out


def encode_for_loss(
    tok: PreTrainedTokenizerBase, convs: list[Conversation], max_len: int
) -> list[Sample | None]:
    """Encoded samples (loss on assistant turns; all of a text sample), None when nothing
    is left to score (every trained token truncated away)."""
    out: list[Sample | None] = []
    for conv in convs:
        enc = encode_conversation(tok, conv, max_len)
        out.append(None if enc is None else Sample.from_labels(enc.input_ids, enc.labels))
    return out


def label_samples(
    tok: PreTrainedTokenizerBase, conv: Conversation, choices: list[str]
) -> list[Sample]:
    """One sample per choice: the generation prompt, then `{choice}<eos>` as the only target."""
    prompt = tok.encode(render_prompt(conv), add_special_tokens=False)
    samples = []
    for choice in choices:
        answer = tok.encode(choice + EOS, add_special_tokens=False)
        ids = prompt + answer
        samples.append(Sample.from_labels(ids, [IGNORE] * len(prompt) + answer))
    return samples


def classify(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    convs: list[Conversation],
    choices: list[list[str]],
    batch_tokens: int,
    advance: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """Per conversation, {choice: probability}: softmax of each choice's summed log-likelihood.

    `advance` is called with the number of (conversation, choice) samples scored.
    """
    flat: list[Sample] = []
    for conv, options in zip(convs, choices, strict=True):
        flat += label_samples(tok, conv, options)
    losses = sample_losses(model, flat, batch_tokens, advance)
    out, k = [], 0
    for options in choices:
        loglik = [-losses[k + j][0] for j in range(len(options))]
        k += len(options)
        top = max(loglik)
        weights = [math.exp(v - top) for v in loglik]
        out.append({c: w / sum(weights) for c, w in zip(options, weights, strict=True)})
    return out
