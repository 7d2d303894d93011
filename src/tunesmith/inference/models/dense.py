"""Llama and Qwen2 (the DeepSeek-R1-Distill architectures) in the engine's own forward.

Per layer: RMSNorm, one fused QKV matmul (Qwen2's biases included), rotary, attention over
the slot cache (grouped-query), output projection, RMSNorm, fused gate+up SwiGLU MLP.
"""

from __future__ import annotations

import torch

from tunesmith.inference.models.base import Functions, NativeCausalLM, lora_stacks, with_rows
from tunesmith.inference.models.layers import cat_weights, fused_mlp, rms_norm, rope
from tunesmith.inference.models.lora import Lora, LoraSet, base_linear, lora_linear

FAMILIES = ("llama", "qwen2")


def dense_pre(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    norm: torch.Tensor,
    eps: float,
    qkv: torch.Tensor,
    qkv_bias: torch.Tensor | None,
    heads: int,
    kv_heads: int,
    head_dim: int,
    lora: Lora | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = x.shape[0]
    out = lora_linear(rms_norm(x, norm, eps), qkv, qkv_bias, lora, "qkv")
    q, k, v = out.split([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], dim=-1)
    q = rope(q.view(t, heads, head_dim), cos, sin)
    k = rope(k.view(t, kv_heads, head_dim), cos, sin)
    return q, k, v.reshape(t, kv_heads, head_dim)


def dense_post(
    x: torch.Tensor,
    attn: torch.Tensor,
    o: torch.Tensor,
    o_bias: torch.Tensor | None,
    norm: torch.Tensor,
    eps: float,
    gate_up: torch.Tensor,
    down: torch.Tensor,
    act: str,
    lora: Lora | None,
) -> torch.Tensor:
    x = x + lora_linear(attn.reshape(x.shape[0], -1), o, o_bias, lora, "o")
    return x + fused_mlp(rms_norm(x, norm, eps), gate_up, down, act, lora)


class DenseLayer:
    value_width = 0

    def __init__(
        self,
        hf_layer: torch.nn.Module,
        config: object,
        functions: Functions,
        adapters: LoraSet | None = None,
    ):
        attn, mlp = hf_layer.self_attn, hf_layer.mlp
        self.lora = lora_stacks(
            adapters,
            qkv=(attn.q_proj, attn.k_proj, attn.v_proj),
            o=(attn.o_proj,),
            gate_up=(mlp.gate_proj, mlp.up_proj),
            down=(mlp.down_proj,),
        )
        if getattr(base_linear(mlp.gate_proj), "bias", None) is not None:
            raise ValueError("MLP biases are not supported by the engine's own forward")
        self.fns = functions
        self.head_dim = attn.head_dim  # head counts from the weights (a pruned layer has fewer)
        self.heads = base_linear(attn.q_proj).weight.shape[0] // self.head_dim
        self.kv_heads = base_linear(attn.k_proj).weight.shape[0] // self.head_dim
        self.scaling = float(attn.scaling)
        self.act = config.hidden_act
        self.norm1 = hf_layer.input_layernorm.weight.detach()
        self.eps1 = float(hf_layer.input_layernorm.variance_epsilon)
        self.norm2 = hf_layer.post_attention_layernorm.weight.detach()
        self.eps2 = float(hf_layer.post_attention_layernorm.variance_epsilon)
        self.qkv, self.qkv_bias = cat_weights(attn.q_proj, attn.k_proj, attn.v_proj)
        self.o, self.o_bias = cat_weights(attn.o_proj)
        self.gate_up, _ = cat_weights(mlp.gate_proj, mlp.up_proj)
        self.down, _ = cat_weights(mlp.down_proj)

    def pre(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rows) -> tuple:  # noqa: ANN001
        return self.fns["dense_pre"](
            x, cos, sin, self.norm1, self.eps1, self.qkv, self.qkv_bias,
            self.heads, self.kv_heads, self.head_dim, with_rows(self.lora, rows),
        )  # fmt: skip

    def post(self, x: torch.Tensor, attn: torch.Tensor, rows) -> torch.Tensor:  # noqa: ANN001
        return self.fns["dense_post"](
            x, attn, self.o, self.o_bias, self.norm2, self.eps2, self.gate_up, self.down,
            self.act, with_rows(self.lora, rows),
        )  # fmt: skip


FUNCTIONS = {"dense_pre": dense_pre, "dense_post": dense_post}


def unsupported(config: object) -> str | None:
    """Why the engine's own forward cannot run this Llama/Qwen2 config (None: it can)."""
    if getattr(config, "use_sliding_window", False):
        return "sliding-window attention"
    if getattr(config, "mlp_bias", False):
        return "MLP biases"
    return None


def build(hf_model: torch.nn.Module, adapters: LoraSet | None = None) -> NativeCausalLM:
    functions = Functions(dict(FUNCTIONS))
    config = hf_model.config
    layers = [DenseLayer(lyr, config, functions, adapters) for lyr in hf_model.model.layers]
    return NativeCausalLM(hf_model, layers, functions, config.model_type, adapters)
