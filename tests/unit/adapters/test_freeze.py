"""`method.name: freeze`: layer ranges, name patterns, tied heads, and their errors."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.adapters.freeze import apply_freeze, parse_layers
from tunesmith.config.schema import FreezeConfig
from tunesmith.errors import ConfigError
from tunesmith.models.registry import PRESETS


@pytest.mark.parametrize(
    ("specs", "want"),
    [
        (["3"], {3}),
        (["8-11"], {8, 9, 10, 11}),
        (["-2:"], {10, 11}),
        ([":4"], {0, 1, 2, 3}),
        (["0", "5-6", "-1"], {0, 5, 6, 11}),
        (["2:4"], {2, 3}),
    ],
)
def test_layer_specs(specs, want) -> None:
    assert parse_layers(specs, 12) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("12", "method.freeze.trainable_layers: '12' is outside this model's layers 0-11"),
        ("10-13", "method.freeze.trainable_layers: '10-13' is outside this model's layers 0-11"),
        ("x", "method.freeze.trainable_layers: 'x' is not a layer index or range (expected e.g. "
              "'3', '8-11', '-2:' or ':4')"),
        ("3-", "method.freeze.trainable_layers: '3-' has no end; write '3:' for layers 3 to "
               "the last"),
    ],
)  # fmt: skip
def test_bad_layer_specs(spec, message) -> None:
    with pytest.raises(ConfigError) as e:
        parse_layers([spec], 12)
    assert str(e.value) == message


def test_trains_chosen_layers_and_tied_head() -> None:
    model = AutoModelForCausalLM.from_config(PRESETS["tiny-qwen2"].config())  # tied head
    apply_freeze(model, FreezeConfig(trainable_layers=["1"], trainable_modules=["lm_head"]))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "model.embed_tokens.weight" in trained  # the tied lm_head.weight
    assert all(".layers.0." not in n for n in trained)
    assert {n for n in trained if ".layers.1." in n} == {
        n for n, _ in model.named_parameters() if ".layers.1." in n
    }
    assert "model.norm.weight" not in trained


def test_pattern_that_matches_nothing() -> None:
    model = AutoModelForCausalLM.from_config(PRESETS["tiny-llama"].config())
    with pytest.raises(ConfigError) as e:
        apply_freeze(model, FreezeConfig(trainable_modules=["*.attention.*"]))
    assert str(e.value).startswith(
        "method.freeze.trainable_modules: '*.attention.*' matches no parameter; names look like "
    )


def test_nothing_to_train() -> None:
    model = AutoModelForCausalLM.from_config(PRESETS["tiny-llama"].config())
    with pytest.raises(ConfigError, match="method.freeze: nothing to train"):
        apply_freeze(model, FreezeConfig())
    assert all(p.requires_grad for p in model.parameters())  # untouched on error
    assert isinstance(model, torch.nn.Module)
