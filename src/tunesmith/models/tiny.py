"""Tiny models built from the real architecture configs (DeepSeek-V3 MLA + MoE, Qwen2, Llama).

They share the shipped tokenizer's vocabulary so every preset trains on the same ids.
"""

from __future__ import annotations

from transformers import DeepseekV3Config, LlamaConfig, Qwen2Config

# Ids of the shipped tokenizer's specials (asserted in tests against the tokenizer itself).
VOCAB_SIZE = 4096
BOS_ID, EOS_ID, PAD_ID = 0, 1, 2
_SPECIALS = {"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "pad_token_id": PAD_ID}


def tiny_deepseek_v3_config(**shape: object) -> DeepseekV3Config:
    """DeepSeek-V3 shape in miniature: MLA (low-rank q and kv), 1 dense layer then MoE layers.

    `shape` overrides any of the sizes (the memory bench builds a larger one this way)."""
    sizes = {
        "hidden_size": 256,
        "intermediate_size": 512,
        "moe_intermediate_size": 128,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "n_shared_experts": 1,
        "n_routed_experts": 4,
        "num_experts_per_tok": 2,
        "kv_lora_rank": 64,
        "q_lora_rank": 64,
        "qk_rope_head_dim": 16,
        "qk_nope_head_dim": 32,
        "v_head_dim": 32,
        **shape,
    }
    return DeepseekV3Config(
        vocab_size=VOCAB_SIZE,
        n_group=1,
        topk_group=1,
        first_k_dense_replace=1,
        routed_scaling_factor=1.0,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        **sizes,
        **_SPECIALS,
    )


# The dense (Qwen2 / Llama) presets share one miniature shape: 2 layers, GQA 4 heads / 2 kv.
_DENSE_SHAPE = {
    "vocab_size": VOCAB_SIZE,
    "hidden_size": 128,
    "intermediate_size": 352,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    **_SPECIALS,
}


def tiny_qwen2_config() -> Qwen2Config:
    """Qwen2 shape (GQA, qkv bias) in miniature; the architecture of DeepSeek-R1-Distill-Qwen."""
    return Qwen2Config(**_DENSE_SHAPE, tie_word_embeddings=True)


def tiny_llama_config() -> LlamaConfig:
    """Llama shape (GQA) in miniature; the architecture of DeepSeek-R1-Distill-Llama."""
    return LlamaConfig(**_DENSE_SHAPE, tie_word_embeddings=False)
