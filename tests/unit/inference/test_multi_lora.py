"""Several LoRA adapters over one base: a mixed batch gives each adapter's own output."""

from __future__ import annotations

import torch
from inference_helpers import hf_greedy, random_prompts
from peft import LoraConfig, get_peft_model

from tunesmith.config.schema import ModelConfig
from tunesmith.inference import BASE, Engine, SamplingParams
from tunesmith.models.load import load_model_and_tokenizer


def _two_adapters() -> torch.nn.Module:
    base, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3"), seed=0)
    torch.manual_seed(1)
    # random (not zero) B matrices, on MLA's kv_b_proj too: each adapter changes the output
    cfg = LoraConfig(
        r=4,
        lora_alpha=16,
        target_modules=["q_b_proj", "kv_b_proj", "o_proj"],
        init_lora_weights=False,
    )
    model = get_peft_model(base, cfg, adapter_name="sql")
    model.add_adapter("poem", cfg)
    return model.eval()


def test_mixed_adapter_batch_equals_each_adapter_alone() -> None:
    model = _two_adapters()
    prompts = random_prompts(3, seed=11)
    names = ["sql", "poem", BASE, "poem", "sql", BASE]
    engine = Engine(model, max_batch=8, token_budget=24)
    outs = engine.generate(prompts * 2, SamplingParams(max_tokens=5, temperature=0.0), names)
    expected = {}
    for name in ("sql", "poem", BASE):
        for i, p in enumerate(prompts):
            if name == BASE:
                with model.disable_adapter():
                    expected[name, i] = hf_greedy(model, p, 5)
            else:
                model.set_adapter(name)
                expected[name, i] = hf_greedy(model, p, 5)
    assert [o.token_ids for o in outs] == [expected[n, i % 3] for i, n in enumerate(names)]
    assert [o.adapter for o in outs] == names
    assert len({tuple(expected[n, 0]) for n in ("sql", "poem", BASE)}) == 3  # they do differ
