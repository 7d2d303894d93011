"""Batched multi-LoRA in the engine's own forward: one forward pass per step for a batch
mixing adapters and the base, each row with its own adapter's tokens."""

from __future__ import annotations

import pytest
import torch
from inference_helpers import hf_greedy, random_prompts
from peft import LoraConfig, get_peft_model

from tunesmith.config.schema import ModelConfig
from tunesmith.inference import BASE, Engine, SamplingParams
from tunesmith.models.load import load_model_and_tokenizer

GREEDY = SamplingParams(max_tokens=5, temperature=0.0)
TARGETS = {
    "tiny-qwen2": [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
        "lm_head",
    ],
    # every MLA projection (kv_b_proj absorbed per adapter). MLP names would make peft
    # target the experts' parameters too, which run on the HF forward (test below)
    "tiny-deepseek-v3": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"],
}


def two_adapters(arch: str, **extra: object) -> torch.nn.Module:
    base, _ = load_model_and_tokenizer(ModelConfig(name_or_path=arch), seed=0)
    torch.manual_seed(1)
    cfg = LoraConfig(r=4, lora_alpha=16, target_modules=TARGETS[arch], init_lora_weights=False)
    model = get_peft_model(base, cfg, adapter_name="sql")
    other = LoraConfig(r=2, lora_alpha=4, target_modules=TARGETS[arch][:3], **extra)
    model.add_adapter("poem", LoraConfig(**{**other.to_dict(), "init_lora_weights": False}))
    return model.eval()


def expected(model: torch.nn.Module, name: str, prompt: list[int]) -> list[int]:
    if name == BASE:
        with model.disable_adapter():
            return hf_greedy(model, prompt, 5)
    model.set_adapter(name)
    return hf_greedy(model, prompt, 5)


@pytest.mark.parametrize("arch", list(TARGETS))
def test_mixed_adapter_batch_runs_one_forward_per_step(arch: str) -> None:
    model = two_adapters(arch)
    prompts = random_prompts(3, seed=21)
    names = ["sql", "poem", BASE, "poem", "sql", BASE]
    engine = Engine(model, max_batch=8, token_budget=256)
    assert engine.native is not None and engine.native.adapters.names == ("sql", "poem")
    outs = engine.generate(prompts * 2, GREEDY, names)
    want = [expected(model, n, prompts[i % 3]) for i, n in enumerate(names)]
    assert [o.token_ids for o in outs] == want
    assert len({tuple(w) for w in want[:3]}) == 3  # the adapters do change the output
    assert engine.runner.forward_passes == 5  # 1 prefill step + 4 decode steps, all mixed


def test_lora_on_expert_parameters_falls_back_to_the_transformers_forward() -> None:
    base, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3"), seed=0)
    cfg = LoraConfig(
        r=2, target_modules=["o_proj", "gate_proj", "up_proj"], init_lora_weights=False
    )
    model = get_peft_model(base, cfg).eval()
    engine = Engine(model, max_batch=2)
    assert engine.native is None
    prompt = random_prompts(1, seed=3)[0]
    assert engine.generate([prompt], GREEDY)[0].token_ids == hf_greedy(model, prompt, 5)


def test_dora_adapters_fall_back_to_the_transformers_forward() -> None:
    base, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    cfg = LoraConfig(r=2, target_modules=["q_proj"], use_dora=True, init_lora_weights=False)
    model = get_peft_model(base, cfg).eval()
    engine = Engine(model, max_batch=2)
    assert engine.native is None
    prompt = random_prompts(1, seed=3)[0]
    assert engine.generate([prompt], GREEDY)[0].token_ids == hf_greedy(model, prompt, 5)
