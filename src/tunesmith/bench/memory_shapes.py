"""Real model dimensions at few layers, for `tunesmith bench memory --shape ...`.

Each shape has the real hidden size, heads, intermediate size(s) and vocabulary of the model
it names; only the depth is cut (`num_hidden_layers`, set per run). Random init: no weights
are downloaded. DeepSeek-V2-Lite's block (MLA without a q low-rank, 64 routed + 2 shared
experts of 1,408, 6 per token, the first layer dense) is built in transformers' DeepSeek-V3
class: the same modules and parameter shapes (V3 routes with a sigmoid and a bias, V2 with a
softmax: a difference of 64 floats per layer, not of memory).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.models.tiny import BOS_ID, EOS_ID, PAD_ID


@dataclass(frozen=True)
class Shape:
    name: str
    real: str  # the model whose dimensions these are
    family: str  # qwen2 | deepseek_v3
    full_layers: int
    sizes: dict
    dense_first: int = 0  # leading dense layers (DeepSeek first_k_dense_replace)

    @property
    def vocab(self) -> int:
        return self.sizes["vocab_size"]


SHAPES = {
    "qwen-1.5b": Shape(
        "qwen-1.5b",
        "DeepSeek-R1-Distill-Qwen-1.5B",
        "qwen2",
        28,
        {
            "vocab_size": 151_936,
            "hidden_size": 1536,
            "intermediate_size": 8960,
            "num_attention_heads": 12,
            "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10_000.0,
            "tie_word_embeddings": False,
        },
    ),
    "v2-lite": Shape(
        "v2-lite",
        "DeepSeek-V2-Lite",
        "deepseek_v3",
        27,
        {
            "vocab_size": 102_400,
            "hidden_size": 2048,
            "intermediate_size": 10_944,
            "moe_intermediate_size": 1408,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "n_routed_experts": 64,
            "n_shared_experts": 2,
            "num_experts_per_tok": 6,
            "n_group": 1,
            "topk_group": 1,
            "first_k_dense_replace": 1,
            "routed_scaling_factor": 1.0,
            "norm_topk_prob": False,
            "q_lora_rank": None,
            "kv_lora_rank": 512,
            "qk_nope_head_dim": 128,
            "qk_rope_head_dim": 64,
            "v_head_dim": 128,
            "rms_norm_eps": 1e-6,
            "tie_word_embeddings": False,
        },
        dense_first=1,
    ),
}


def model_config(shape: Shape, layers: int, max_len: int):  # noqa: ANN201
    from transformers import DeepseekV3Config, Qwen2Config

    cls = Qwen2Config if shape.family == "qwen2" else DeepseekV3Config
    return cls(
        num_hidden_layers=layers,
        max_position_embeddings=max(4096, max_len),
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        **shape.sizes,
    )


def write_model(shape: Shape, layers: int, max_len: int, path: Path) -> Path:
    """A random-init model of `shape` at `layers` layers, with the shipped tokenizer (its ids
    are a subset of the real vocabulary), written as bf16 safetensors."""
    import torch
    from transformers import AutoModelForCausalLM

    from tunesmith.tokenize.templates import load_tokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(model_config(shape, layers, max_len))
    # stored in bf16, loaded in fp32: the conversion allocates every weight, so each arm's
    # weights are resident from the start. fp32 files would be memory-mapped and paged in
    # only where touched (an embedding lookup reads a few rows), skewing the comparison.
    model.to(torch.bfloat16).save_pretrained(path)
    load_tokenizer(None).save_pretrained(path)
    del model
    return path


def extrapolate(deltas: dict[int, float], full_layers: int) -> tuple[float, float] | None:
    """(MB per layer, MB at full depth) from training deltas measured at two depths, linear
    in depth: delta(L) = delta(L_hi) + (L - L_hi) x per_layer. With the smaller depth at least
    the leading dense layers, the slope is the repeated (MoE) layer's."""
    if len(deltas) < 2:
        return None
    lo, hi = sorted(deltas)[0], sorted(deltas)[-1]
    per_layer = (deltas[hi] - deltas[lo]) / (hi - lo)
    return per_layer, deltas[hi] + (full_layers - hi) * per_layer
