"""Packed rows: no token attends across a sample boundary, on every tiny architecture.

Per-sample losses from one packed row must equal those of each sample run alone (and of a
right-padded batch) within 1e-5.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from helpers import encoded_samples
from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import IGNORE


def per_token_loss(model, batch) -> torch.Tensor:
    inputs = {k: v for k, v in batch.items() if k != "targets"}
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits
    return F.cross_entropy(
        logits.float().transpose(1, 2), batch["targets"], ignore_index=IGNORE, reduction="none"
    )


def mean_loss(losses: torch.Tensor, targets: torch.Tensor) -> float:
    keep = targets != IGNORE
    return float(losses[keep].sum() / keep.sum())


@pytest.mark.parametrize("preset", ["tiny-deepseek-v3", "tiny-qwen2", "tiny-llama"])
def test_packed_losses_equal_unpacked(preset: str) -> None:
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=preset), seed=0)
    model.eval()
    samples = encoded_samples(tok)
    lengths = [len(s.input_ids) for s in samples]
    assert len(set(lengths)) > 2  # different lengths, so boundaries fall at different places

    packed = collate_packed(samples)
    losses = per_token_loss(model, packed)[0]
    packed_means, start = [], 0
    for n in lengths:
        packed_means.append(
            mean_loss(losses[start : start + n], packed["targets"][0, start : start + n])
        )
        start += n

    alone = []
    for s in samples:
        batch = collate_packed([s])
        alone.append(mean_loss(per_token_loss(model, batch)[0], batch["targets"][0]))

    padded = collate_padded(samples, tok.pad_token_id)
    pad_losses = per_token_loss(model, padded)
    padded_means = [mean_loss(pad_losses[i], padded["targets"][i]) for i in range(len(samples))]

    assert packed_means == pytest.approx(alone, abs=1e-5)
    assert padded_means == pytest.approx(alone, abs=1e-5)
    assert max(alone) - min(alone) > 1e-3  # the samples really differ


def test_dense_attention_would_leak() -> None:
    """The check above can fail: plain causal attention over the row mixes samples."""
    model, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path="tiny-qwen2", attn_implementation="eager"), seed=0
    )
    model.eval()
    samples = encoded_samples(tok, 3)
    packed = collate_packed(samples)
    del packed["position_ids"]  # no restarts: one long causal sequence
    losses = per_token_loss(model, packed)[0]
    n0 = len(samples[0].input_ids)
    second = mean_loss(
        losses[n0 : n0 + len(samples[1].input_ids)],
        packed["targets"][0, n0 : n0 + len(samples[1].input_ids)],
    )
    batch = collate_packed([samples[1]])
    alone = mean_loss(per_token_loss(model, batch)[0], batch["targets"][0])
    assert abs(second - alone) > 1e-4
