"""The engine's own forward (inference.models) against transformers, eager and compiled."""

from __future__ import annotations

import pytest
import torch
from inference_helpers import ARCHS, hf_greedy, random_prompts, tiny_model
from transformers import DeepseekV3Config, MistralConfig, MistralForCausalLM

from tunesmith.inference import Engine, SamplingParams
from tunesmith.inference.kv_cache import SlotKVCache, StepLayout
from tunesmith.inference.models import build_native, kv_bytes_per_token

GREEDY = SamplingParams(max_tokens=8, temperature=0.0)
FAMILIES = (*ARCHS, "tiny-deepseek-v3-base")


def native_logits(model: torch.nn.Module, chunks: list[list[int]]) -> torch.Tensor:
    """Logits of every row of one sequence fed as consecutive chunks through the engine's
    own forward (a prompt chunk, then further chunks, then single decode tokens)."""
    native = build_native(model)
    assert native is not None
    total = sum(len(c) for c in chunks)
    cache = SlotKVCache(model.config.num_hidden_layers, 1, total)
    out, done = [], 0
    for chunk in chunks:
        layout = StepLayout.build([0], [done], [len(chunk)])
        cache.layout = layout
        ids = torch.tensor(chunk)
        keep = torch.ones(len(chunk), dtype=torch.bool)
        out.append(native.forward(ids, layout.token_positions, layout, cache, keep))
        done += len(chunk)
    return torch.cat(out)


@pytest.mark.parametrize("arch", FAMILIES)
def test_native_logits_match_transformers_forward(arch: str) -> None:
    """fp32 logits within 1e-4 (absolute) of the HF forward over the same tokens, for a
    prompt fed as chunks of 7, 5, then 1 token at a time (MLA's absorbed form reorders the
    sums, hence not bitwise)."""
    model = tiny_model(arch)
    tokens = random_prompts(1, seed=5, low=16, high=17)[0]
    got = native_logits(model, [tokens[:7], tokens[7:12], *[[t] for t in tokens[12:]]])
    with torch.no_grad():
        want = model(torch.tensor([tokens])).logits[0]
    assert got.shape == want.shape == (16, model.config.vocab_size)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("arch", FAMILIES)
def test_native_greedy_equals_transformers_generate(arch: str) -> None:
    model = tiny_model(arch)
    prompts = random_prompts(4, seed=1)
    engine = Engine(model, max_batch=3, token_budget=16, forward="native")
    outs = engine.generate(prompts, GREEDY)
    assert engine.native is not None and engine.native.family == model.config.model_type
    assert [o.token_ids for o in outs] == [hf_greedy(model, p, 8) for p in prompts]


@pytest.mark.parametrize("arch", FAMILIES)
def test_compiled_greedy_equals_transformers_generate(arch: str) -> None:
    """torch.compile'd layers (bucket of 4 rows: decode steps of up to 4 sequences run
    padded through the compiled graphs, longer prompt chunks eagerly) give HF's tokens."""
    model = tiny_model(arch)
    prompts = random_prompts(4, seed=7)
    engine = Engine(model, max_batch=4, token_budget=64, compile_buckets=(4,))
    assert engine.startup_compile_s > 0 and engine.native.buckets == (4,)
    outs = engine.generate(prompts, GREEDY)
    assert [o.token_ids for o in outs] == [hf_greedy(model, p, 8) for p in prompts]
    assert engine.native.compiled_steps >= 7  # every decode step after the prompts


def test_other_architectures_fall_back_to_the_transformers_forward() -> None:
    config = MistralConfig(
        vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    torch.manual_seed(0)
    model = MistralForCausalLM(config).eval()
    engine = Engine(model, max_batch=2)
    assert engine.native is None
    prompts = [[5, 9, 200, 31], [7, 7, 7]]
    outs = engine.generate(prompts, GREEDY)
    assert [o.token_ids for o in outs] == [hf_greedy(model, p, 8) for p in prompts]
    with pytest.raises(ValueError, match="architecture 'mistral' has no engine forward"):
        Engine(model, forward="native")
    with pytest.raises(ValueError, match="compile_buckets needs the engine's own forward"):
        Engine(model, compile_buckets=(1,))


def test_mla_cache_holds_the_latent_only() -> None:
    """tiny-deepseek-v3: the cache stores kv_lora_rank + qk_rope_head_dim = 80 features per
    token per layer (fp32: 4 layers x 80 x 4 = 1,280 bytes) instead of 4 heads x (48 + 32)."""
    model = tiny_model("tiny-deepseek-v3")
    engine = Engine(model, max_batch=2)
    engine.generate([[5, 6, 7]], SamplingParams(max_tokens=2, temperature=0.0))
    keys, values = engine.cache.keys, engine.cache.values
    per_token = sum(
        k.shape[1] * k.shape[3] + v.shape[1] * v.shape[3] for k, v in zip(keys, values, strict=True)
    )
    assert per_token * 4 == kv_bytes_per_token(model.config, dtype_bytes=4)["latent"] == 1280
    assert kv_bytes_per_token(model.config, dtype_bytes=4)["expanded"] == 4 * 4 * 80 * 4


def test_kv_bytes_per_token_of_the_real_deepseek_configs() -> None:
    """bf16: DeepSeek-V3 70,272 vs 4,997,120 bytes (71x); V2-Lite 31,104 vs 276,480 (8.9x)."""
    v3 = DeepseekV3Config(
        num_hidden_layers=61, num_attention_heads=128, num_key_value_heads=128,
        kv_lora_rank=512, q_lora_rank=1536, qk_rope_head_dim=64, qk_nope_head_dim=128,
        v_head_dim=128,
    )  # fmt: skip
    assert kv_bytes_per_token(v3) == {"latent": 70_272, "expanded": 4_997_120}
    lite = DeepseekV3Config(
        num_hidden_layers=27, num_attention_heads=16, num_key_value_heads=16,
        kv_lora_rank=512, q_lora_rank=None, qk_rope_head_dim=64, qk_nope_head_dim=128,
        v_head_dim=128,
    )  # fmt: skip
    assert kv_bytes_per_token(lite) == {"latent": 31_104, "expanded": 276_480}
