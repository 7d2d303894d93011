"""PeftModels as trained by tunesmith (attach_method): trainable tokens, the "default"
adapter, unnamed requests, and adapters the engine refuses."""

from __future__ import annotations

import pytest
import torch
from inference_helpers import hf_greedy
from peft import PrefixTuningConfig, get_peft_model

from tunesmith.adapters.peft_setup import attach_method
from tunesmith.config.schema import LoraConfig, MethodConfig, ModelConfig
from tunesmith.evaluation.generate import uses_engine
from tunesmith.inference import BASE, Engine, InvalidRequestError, SamplingParams
from tunesmith.models.load import load_model_and_tokenizer

# special tokens (ids 0-6 of the shipped tokenizer) inside the prompts, so the trained
# embedding rows are read, and every token reachable by the trained LM-head rows
PROMPTS = [[4, 5, 100, 6, 200, 17], [3, 300, 1, 2000, 6], [0, 45, 46, 47, 48, 49, 50, 5]]
GREEDY = SamplingParams(max_tokens=6, temperature=0.0)


def _trained_lora(trainable_tokens: list[str]) -> torch.nn.Module:
    """tiny-deepseek-v3 with tunesmith's LoRA (all-linear: MLA, shared and routed experts),
    every trainable weight moved off its init so the adapter changes the output."""
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3"), seed=0)
    lora = LoraConfig(r=4, alpha=8.0, trainable_tokens=trainable_tokens)
    model = attach_method(base, MethodConfig(name="lora", lora=lora), tok)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def _hf(model: torch.nn.Module, base: bool = False) -> list[list[int]]:
    if not base:
        return [hf_greedy(model, p, 6) for p in PROMPTS]
    with model.disable_adapter():
        return [hf_greedy(model, p, 6) for p in PROMPTS]


def test_trainable_tokens_adapter_equals_hugging_face_generate() -> None:
    model = _trained_lora(["all-special"])
    assert type(model.get_input_embeddings()).__name__ == "TrainableTokensWrapper"
    engine = Engine(model, max_batch=4, token_budget=8)  # chunked prefill too
    assert engine.vocab_size == model.config.vocab_size
    outs = engine.generate(PROMPTS, GREEDY)
    expected = _hf(model)
    assert [o.token_ids for o in outs] == expected
    assert _hf(model, base=True) != expected  # the trained rows and LoRA weights matter
    assert uses_engine(model)  # so evaluation runs such adapters on the engine


def test_single_lora_adapter_named_unnamed_and_base() -> None:
    model = _trained_lora([])
    engine = Engine(model, max_batch=8)
    assert engine.adapters == ("default",) and engine.default_adapter == "default"
    adapted, base = _hf(model), _hf(model, base=True)
    assert adapted != base
    names = ["default"] * 3 + [None] * 3 + [BASE] * 3  # one mixed batch
    outs = engine.generate(PROMPTS * 3, GREEDY, names)
    assert [o.token_ids for o in outs] == adapted + adapted + base
    assert [o.adapter for o in outs] == ["default"] * 6 + [BASE] * 3
    with pytest.raises(InvalidRequestError, match="unknown adapter 'sql'") as e:
        engine.check_request(PROMPTS[0], GREEDY, "sql")
    assert e.value.code == "model_not_found"


def test_base_on_a_plain_model_is_the_model_itself() -> None:
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"), seed=0)
    engine = Engine(model.eval(), max_batch=2)
    assert engine.default_adapter is None and engine.resolve_adapter(BASE) is None
    out = engine.generate(PROMPTS[:1], GREEDY, [BASE])[0]
    assert out.token_ids == hf_greedy(model, PROMPTS[0], 6) and out.adapter is None


def test_prefix_tuning_is_refused_with_a_clear_error() -> None:
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"), seed=0)
    prefix = get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    with pytest.raises(ValueError, match="prompt-learning adapters: default \\(PREFIX_TUNING\\)"):
        Engine(prefix)
    assert not uses_engine(prefix)  # evaluation uses Hugging Face generate for it
