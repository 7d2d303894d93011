"""LoRA targets per architecture; the methods' bad-input messages."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model
from transformers import AutoModelForCausalLM, DeepseekV2Config

from tunesmith.adapters.lora import lora_config
from tunesmith.adapters.peft_setup import attach_method, check_method
from tunesmith.adapters.targets import resolve_targets, valid_target_names
from tunesmith.config.schema import LoraConfig, MethodConfig
from tunesmith.errors import ConfigError
from tunesmith.models.registry import PRESETS

MLA = ["kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "q_a_proj", "q_b_proj"]


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(PRESETS[name].config())


def tiny_v2() -> torch.nn.Module:
    """DeepSeek-V2-Lite's shape in miniature: no q compression (q_proj), softmax routing."""
    cfg = DeepseekV2Config(
        vocab_size=512, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, n_routed_experts=4,
        n_shared_experts=1, num_experts_per_tok=2, first_k_dense_replace=1, q_lora_rank=None,
        kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
        n_group=1, topk_group=1,
    )  # fmt: skip
    return AutoModelForCausalLM.from_config(cfg)


def test_deepseek_v3_all_linear_covers_mla_shared_dense_and_routed_experts() -> None:
    model = build("tiny-deepseek-v3")
    t = resolve_targets(model, ["all-linear"])
    assert sorted(t.modules) == MLA
    assert sorted(t.parameters) == [
        "mlp.down_proj.weight",  # layer 0 is dense
        "mlp.experts.down_proj",  # routed experts (fused 3-D tensors)
        "mlp.experts.gate_up_proj",
        "mlp.gate_proj.weight",
        "mlp.up_proj.weight",
        "shared_experts.down_proj.weight",
        "shared_experts.gate_proj.weight",
        "shared_experts.up_proj.weight",
    ]
    peft_model = get_peft_model(model, lora_config(model, MethodConfig(), None))
    adapted = {n.split(".lora_")[0] for n, p in peft_model.named_parameters() if "lora_A" in n}
    layer0 = {n.split("layers.0.")[1] for n in adapted if "layers.0." in n}
    layer1 = {n.split("layers.1.")[1] for n in adapted if "layers.1." in n}
    assert layer0 == {f"self_attn.{m}" for m in MLA} | {
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"
    }  # fmt: skip
    assert layer1 == {f"self_attn.{m}" for m in MLA} | {
        "mlp.shared_experts.gate_proj", "mlp.shared_experts.up_proj",
        "mlp.shared_experts.down_proj", "mlp.experts", "mlp.experts.base_layer",
    }  # fmt: skip


def test_deepseek_v2_lite_shape_uses_q_proj() -> None:
    model = tiny_v2()
    assert valid_target_names(model) == [
        "down_proj", "experts", "gate_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj",
        "q_proj", "up_proj",
    ]  # fmt: skip
    t = resolve_targets(model, ["q_proj", "experts"])
    assert t.modules == ["q_proj"]
    assert t.parameters == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]


def test_dense_models_adapt_modules() -> None:
    t = resolve_targets(build("tiny-qwen2"), ["all-linear"])
    assert sorted(t.modules) == [
        "down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"
    ]  # fmt: skip
    assert t.parameters == []


def test_wrong_module_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as e:
        resolve_targets(build("tiny-deepseek-v3"), ["q_proj"])
    assert str(e.value) == (
        "method.lora.target_modules: ['q_proj'] not in this model (deepseek_v3); valid: "
        "down_proj, experts, gate_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj, q_a_proj, "
        "q_b_proj, up_proj (or 'all-linear')"
    )


def test_dora_keeps_module_targets_and_refuses_expert_names() -> None:
    model = build("tiny-deepseek-v3")
    dora = MethodConfig(name="dora")
    assert lora_config(model, dora, None).target_parameters is None
    dora.lora.target_modules = ["o_proj", "experts"]
    with pytest.raises(ConfigError, match="'experts' is adapted through its weight tensor on "
                       "deepseek_v3, which DoRA does not support; with dora use: "
                       "kv_a_proj_with_mqa, kv_b_proj, o_proj, q_a_proj, q_b_proj"):  # fmt: skip
        check_method(model, dora, None)


def test_dropout_with_parameter_targets_is_refused() -> None:
    method = MethodConfig(lora=LoraConfig(dropout=0.05))
    with pytest.raises(ConfigError) as e:
        check_method(build("tiny-deepseek-v3"), method, None)
    assert str(e.value).startswith(
        "method.lora.dropout: 0.05 is not supported with down_proj, experts, gate_proj, up_proj on "
        "deepseek_v3"
    )
    method.lora.target_modules = ["q_a_proj", "o_proj"]  # attention only: dropout is fine
    check_method(build("tiny-deepseek-v3"), method, None)


def test_rslora_scaling() -> None:
    model = attach_method(
        build("tiny-qwen2"),
        MethodConfig(lora=LoraConfig(r=16, alpha=32, use_rslora=True, target_modules=["q_proj"])),
    )
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    assert layer.scaling["default"] == pytest.approx(32 / 16**0.5)
