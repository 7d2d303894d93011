"""Per-pair log-probs: packed equals padded; the reference without a second model."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from tunesmith.adapters.peft_setup import attach_method
from tunesmith.config.schema import MethodConfig, ModelConfig
from tunesmith.data.preference import load_preference
from tunesmith.evaluation.pairwise import forward_logps
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.tokenize.preference import collate_items, encode_records
from tunesmith.training.preference.reference import (
    CACHE_FILE,
    Reference,
    compute_logps,
    read_cache,
)

DATA = Path(__file__).resolve().parents[4] / "examples" / "data" / "tags-preference"


def _items(tok, n=6):
    records = load_preference([DATA / "train.jsonl"]).records[:n]
    records[1].prompt[
        0
    ].content += " Please think it over carefully, step by step."  # lengths differ
    return encode_records(tok, records, 128)


@pytest.mark.parametrize("preset", ["tiny-deepseek-v3", "tiny-qwen2"])
def test_packed_pair_logps_equal_padded(preset):
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=preset), seed=0)
    model.eval()
    items = _items(tok)
    assert len({i.length for i in items}) > 1
    with torch.no_grad():
        packed, packed_n = forward_logps(
            model, collate_items(items, packing=True, pad_id=tok.pad_token_id)
        )
        padded, padded_n = forward_logps(
            model, collate_items(items, packing=False, pad_id=tok.pad_token_id)
        )
        alone = torch.cat(
            [forward_logps(model, collate_items([i], packing=False, pad_id=0))[0] for i in items]
        )
    assert torch.equal(packed_n, padded_n)
    assert packed_n.tolist() == [float(s.n_targets) for i in items for s in i.sequences]
    torch.testing.assert_close(packed, padded, atol=1e-4, rtol=0)
    torch.testing.assert_close(packed, alone, atol=1e-4, rtol=0)
    assert float(packed.abs().min()) > 1.0  # real log-probs, not zeros


def test_lora_reference_is_the_base_with_the_adapter_disabled():
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    untouched = copy.deepcopy(base).eval()
    model = attach_method(base, MethodConfig(name="lora"), tok)
    with torch.no_grad():  # move the adapter away from its zero init: the policy now differs
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    batch = collate_items(_items(tok), packing=True, pad_id=0)
    model.train()
    ref = Reference("adapter").logps(model, batch)
    assert model.training  # restored after the reference pass
    with torch.no_grad():
        expected = forward_logps(untouched, batch)[0]
        policy = forward_logps(model.eval(), batch)[0]
    torch.testing.assert_close(ref, expected, atol=1e-5, rtol=0)
    assert float((policy - expected).abs().max()) > 0.1


def test_full_reference_cache_equals_recomputed_and_is_reused(tmp_path):
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    items = _items(tok)
    splits = {"train": items[:4], "validation": items[4:]}
    ref = Reference("cached")
    kw = {"rank": 0, "world": 1, "autocast": _no_autocast}
    said: list[str] = []
    ref.fill_cache(model, splits, tmp_path, 256, say=said.append, **kw)
    assert (tmp_path / CACHE_FILE).is_file() and "stored" in said[-1]
    recomputed = compute_logps(model, items[:4], 4096, autocast=_no_autocast)
    for i in (1, 3):  # any batch of items reads its rows
        batch = collate_items([items[i]], packing=True, pad_id=0)
        row = ref.logps(model, {**batch, "index": torch.tensor([i])})
        torch.testing.assert_close(row, recomputed[i], atol=1e-5, rtol=0)
    torch.testing.assert_close(ref.cache["train"], recomputed, atol=1e-5, rtol=0)

    # resume: the stored values are read back, not recomputed (the weights changed meanwhile)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    again = Reference("cached")
    again.fill_cache(model, splits, tmp_path, 256, say=said.append, **kw)
    assert "read from" in said[-1]
    assert torch.equal(again.cache["train"], ref.cache["train"])
    # other data: recomputed, not stale
    other = Reference("cached")
    other.fill_cache(model, {"train": items[:3]}, tmp_path, 256, say=said.append, **kw)
    assert "stored" in said[-1] and read_cache(tmp_path / CACHE_FILE)[0]["train"].shape == (3, 2)


class _no_autocast:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_copy_reference_keeps_the_initial_weights():
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    batch = collate_items(_items(tok), packing=True, pad_id=0)
    with torch.no_grad():
        initial = forward_logps(model.eval(), batch)[0]
    ref = Reference("copy")
    ref.keep_copy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05)
    assert all(not p.requires_grad for p in ref.frozen.parameters())
    torch.testing.assert_close(ref.logps(model, batch), initial, atol=1e-6, rtol=0)
    assert Reference("none").logps(model, batch) is None
