"""FLOP counts of `tunesmith profile` against analytic counts for the tiny presets.

The analytic count (what docs/profile.md defines), for a dense decoder with hidden size h,
L layers, n_q query heads and n_kv key/value heads of width d, MLP width I, vocabulary V,
on B sequences of S tokens (T = B * S):

    weights W = L * (h*n_q*d + 2*h*n_kv*d + n_q*d*h + 3*h*I) + h*V   (q, k, v, o, gate/up/down,
                                                                     lm_head; tied or not)
    forward   = 2*T*W + L * 4*B*S^2*n_q*d       (QK^T and AV over the full S x S matrix)
    train     = 3 * forward                    (backward: input and weight gradients, and
                                                dQ, dK, dV, dP for attention)
"""

from __future__ import annotations

import pytest
import torch

from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.profile.flops import count_flops, module_key
from tunesmith.profile.run import make_forward, make_step


def analytic_dense(config, batch: int, seq: int, mode: str) -> int:  # noqa: ANN001
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    n_q, n_kv, inter = (
        config.num_attention_heads,
        config.num_key_value_heads,
        config.intermediate_size,
    )
    d = getattr(config, "head_dim", None) or h // n_q
    weights = layers * (h * n_q * d + 2 * h * n_kv * d + n_q * d * h + 3 * h * inter) + h * vocab
    tokens = batch * seq
    forward = 2 * tokens * weights + layers * 4 * batch * seq * seq * n_q * d
    return forward if mode == "infer" else 3 * forward


def load(preset: str) -> torch.nn.Module:
    model, _ = load_model_and_tokenizer(ModelConfig(name_or_path=preset))
    return model


@pytest.mark.parametrize(
    ("preset", "mode", "batch", "seq"),
    [
        ("tiny-llama", "train", 2, 24),
        ("tiny-qwen2", "infer", 3, 16),
        ("tiny-qwen2", "train", 1, 40),
    ],
)
def test_step_flops_equal_the_analytic_count(one_thread, preset, mode, batch, seq):
    model = load(preset)
    if mode == "train":
        model.requires_grad_(True)
    ids = torch.randint(
        0, model.config.vocab_size, (batch, seq), generator=torch.Generator().manual_seed(0)
    )
    flops = count_flops(make_step(model, mode, ids))
    assert flops.total == analytic_dense(model.config, batch, seq, mode)
    c = model.config
    d = c.hidden_size // c.num_attention_heads
    attention = c.num_hidden_layers * 4 * batch * seq * seq * c.num_attention_heads * d
    assert flops.by_op["aten::mm"] + flops.by_op.get("aten::addmm", 0) == flops.total - (
        attention if mode == "infer" else 3 * attention
    )
    assert flops.by_op["aten::_scaled_dot_product_flash_attention_for_cpu"] == attention


def test_forward_flops_by_module(one_thread):
    model = load("tiny-llama")
    c = model.config
    ids = torch.zeros(2, 8, dtype=torch.long)
    by_module = count_flops(make_forward(model, "infer", ids)).by_module
    tokens, h, inter = 16, c.hidden_size, c.intermediate_size
    assert by_module["model.layers.*.mlp.gate_proj"] == c.num_hidden_layers * 2 * tokens * h * inter
    assert by_module["lm_head"] == 2 * tokens * h * c.vocab_size
    assert by_module["model"] + by_module["lm_head"] == analytic_dense(c, 2, 8, "infer")


def test_moe_experts_count_the_routed_rows(one_thread):
    """DeepSeek-V3 experts run as torch._grouped_mm; each token goes to k experts, so the
    experts cost 2 * T * k * 3 * h * I_moe per MoE layer whatever the routing."""
    model = load("tiny-deepseek-v3")
    c = model.config
    ids = torch.randint(0, c.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1))
    moe_layers = c.num_hidden_layers - c.first_k_dense_replace
    per_layer = 2 * 32 * c.num_experts_per_tok * 3 * c.hidden_size * c.moe_intermediate_size
    forward = count_flops(make_forward(model, "infer", ids))
    assert forward.by_module["model.layers.*.mlp.experts"] == moe_layers * per_layer
    assert forward.by_op["aten::_grouped_mm"] == moe_layers * per_layer
    model.requires_grad_(True)
    train = count_flops(make_step(model, "train", ids))
    assert train.by_op["aten::_grouped_mm"] == 3 * moe_layers * per_layer


def test_module_key_merges_layer_copies():
    assert module_key("model.layers.11.mlp.experts.3") == "model.layers.*.mlp.experts.*"
    assert module_key("base_model.model.model.layers.0.self_attn.q_proj.lora_A.default") == (
        "model.layers.*.self_attn.q_proj.lora_A.default"
    )
    assert module_key("lm_head") == "lm_head"
