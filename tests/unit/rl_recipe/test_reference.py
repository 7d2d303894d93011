"""The grpo reference: none at beta 0; an adapter method's is its base with the adapter
disabled (nothing copied); full fine-tuning's a frozen copy of the initial weights."""

from __future__ import annotations

import torch
from peft import LoraConfig, get_peft_model

from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.training.rl.batch import pack, token_logps
from tunesmith.training.rl.objective import Reference, reference_mode


def test_modes():
    assert reference_mode(0.0, "lora") == "none"
    assert reference_mode(0.04, "lora") == "adapter"
    assert reference_mode(0.04, "qlora") == "adapter"
    assert reference_mode(0.04, "full") == "copy"


def test_adapter_reference_is_the_base_and_copy_is_frozen():
    base, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3-base"))
    batch = pack([[0, 3, 40, 41, 4], [0, 3, 50, 4]], [[60, 61, 1], [70, 1]])
    with torch.no_grad():
        want = token_logps(base, batch, 0.9)[0]
    copy = Reference("copy", base)
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_a_proj", "o_proj"]))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.3)
        policy = token_logps(model, batch, 0.9)[0]
    model.train()
    ref = Reference("adapter").logps(model, batch, 0.9)
    assert model.training  # restored after the reference pass
    assert (policy - want).abs().max() > 1e-3  # the adapter moved the policy ...
    torch.testing.assert_close(ref, want, atol=1e-6, rtol=0)  # ... not the reference
    torch.testing.assert_close(copy.logps(model, batch, 0.9), want, atol=1e-6, rtol=0)
    assert not any(p.requires_grad for p in copy.frozen.parameters())
    assert Reference("none").logps(model, batch, 0.9) is None
