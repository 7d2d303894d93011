"""Per architecture: the GGUF metadata llama.cpp reads, and HF tensors -> GGUF tensors.

    spec = ARCHS["llama"]
    spec.metadata(writer, config)                       # llama.context_length, ... keys
    for gguf_name, tensor in spec.tensors(hf_name, tensor, config, names): ...

Layouts follow llama.cpp's own converter (convert_hf_to_gguf.py):

- llama: the q/k projections are permuted back from Hugging Face's rotate-half order to the
  interleaved pairs llama.cpp's LLAMA rope expects; a tied output head is not written (llama.cpp
  falls back to token_embd).
- qwen2: the same tensors with q/k/v biases and no permutation (llama.cpp uses NEOX rope).
- deepseek_v3 (llama.cpp's `deepseek2`): MLA is stored for the absorbed form, kv_b_proj split
  into attn_k_b (transposed) and attn_v_b; transformers' fused routed experts (gate_up_proj,
  down_proj) are split into ffn_gate_exps / ffn_up_exps / ffn_down_exps; the router's
  e_score_correction_bias becomes exp_probs_b; sigmoid gating. Needs interleaved rope
  (`rope_interleave: true`, as DeepSeek-V3's own checkpoints) and no rope scaling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gguf
import torch

from tunesmith.errors import ConfigError

Tensors = Iterator[tuple[str, torch.Tensor]]


@dataclass(frozen=True)
class ArchSpec:
    arch: gguf.MODEL_ARCH
    metadata: Callable[[gguf.GGUFWriter, object], None]
    tensors: Callable[[str, torch.Tensor, object, gguf.TensorNameMap], Tensors]


def _map(names: gguf.TensorNameMap, hf_name: str) -> str:
    new = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if new is None:
        raise ConfigError(f"--model: no GGUF name for tensor '{hf_name}'")
    return new


def _rope_theta(config: object) -> float:
    rope = getattr(config, "rope_parameters", None) or {}
    kind = rope.get("rope_type", "default")
    if kind != "default":
        raise ConfigError(
            f"--model: rope scaling '{kind}' (config.json rope_parameters) is not supported "
            "by tunesmith export gguf; only unscaled rope is"
        )
    return float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def _common(w: gguf.GGUFWriter, c: object, n_head_kv: int) -> None:
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_freq_base(_rope_theta(c))
    w.add_vocab_size(c.vocab_size)


def _dense_metadata(w: gguf.GGUFWriter, c: object) -> None:
    _common(w, c, c.num_key_value_heads)
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)


def _unrotate(t: torch.Tensor, n_head: int) -> torch.Tensor:
    """Hugging Face rotate-half rows of each head -> interleaved (x0, x1) pairs."""
    return (
        t.reshape(n_head, 2, t.shape[0] // n_head // 2, *t.shape[1:])
        .swapaxes(1, 2)
        .reshape(t.shape)
    )


def _dense_tensors(permute: bool) -> Callable[..., Tensors]:
    def tensors(name: str, t: torch.Tensor, c: object, names: gguf.TensorNameMap) -> Tensors:
        if name == "lm_head.weight" and c.tie_word_embeddings:
            return
        if permute and ".self_attn.q_proj." in name:
            t = _unrotate(t, c.num_attention_heads)
        elif permute and ".self_attn.k_proj." in name:
            t = _unrotate(t, c.num_key_value_heads)
        yield _map(names, name), t

    return tensors


def _deepseek_metadata(w: gguf.GGUFWriter, c: object) -> None:
    if not getattr(c, "rope_interleave", True):
        raise ConfigError(
            "--model: a deepseek_v3 model with rope_interleave false is not supported by "
            "tunesmith export gguf (llama.cpp's deepseek2 expects interleaved rope)"
        )
    _common(w, c, 1)  # llama.cpp runs MLA as multi-query attention over the latent
    w.add_leading_dense_block_count(c.first_k_dense_replace)
    if c.q_lora_rank is not None:
        w.add_q_lora_rank(c.q_lora_rank)
    w.add_kv_lora_rank(c.kv_lora_rank)
    w.add_key_length(c.kv_lora_rank + c.qk_rope_head_dim)
    w.add_value_length(c.kv_lora_rank)
    w.add_key_length_mla(c.qk_nope_head_dim + c.qk_rope_head_dim)
    w.add_value_length_mla(c.v_head_dim)
    w.add_expert_feed_forward_length(c.moe_intermediate_size)
    w.add_expert_count(c.n_routed_experts)
    w.add_expert_used_count(c.num_experts_per_tok)
    w.add_expert_shared_count(c.n_shared_experts)
    w.add_expert_group_count(c.n_group)
    w.add_expert_group_used_count(c.topk_group)
    w.add_expert_weights_scale(c.routed_scaling_factor)
    if c.norm_topk_prob:
        w.add_expert_weights_norm(True)
    w.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
    w.add_rope_dimension_count(c.qk_rope_head_dim)


def _deepseek_tensors(name: str, t: torch.Tensor, c: object, names: gguf.TensorNameMap) -> Tensors:
    if name == "lm_head.weight" and c.tie_word_embeddings:
        return
    prefix = name.rsplit(".", 1)[0]
    if name.endswith("self_attn.kv_b_proj.weight"):
        per_head = t.view(c.num_attention_heads, c.qk_nope_head_dim + c.v_head_dim, t.shape[-1])
        k_b, v_b = torch.split(per_head, [c.qk_nope_head_dim, c.v_head_dim], dim=1)
        yield _map(names, name.replace("kv_b_proj", "k_b_proj")), k_b.transpose(1, 2)
        yield _map(names, name.replace("kv_b_proj", "v_b_proj")), v_b
    elif name.endswith("mlp.experts.gate_up_proj"):
        gate, up = t.split(c.moe_intermediate_size, dim=1)
        yield _map(names, f"{prefix}.gate_proj.weight"), gate
        yield _map(names, f"{prefix}.up_proj.weight"), up
    elif name.endswith("mlp.experts.down_proj"):
        yield _map(names, f"{prefix}.down_proj.weight"), t
    elif name.endswith("mlp.gate.e_score_correction_bias"):
        yield _map(names, f"{prefix}.e_score_correction.bias"), t
    else:
        yield _map(names, name), t


ARCHS: dict[str, ArchSpec] = {
    "llama": ArchSpec(gguf.MODEL_ARCH.LLAMA, _dense_metadata, _dense_tensors(permute=True)),
    "qwen2": ArchSpec(gguf.MODEL_ARCH.QWEN2, _dense_metadata, _dense_tensors(permute=False)),
    "deepseek_v3": ArchSpec(gguf.MODEL_ARCH.DEEPSEEK2, _deepseek_metadata, _deepseek_tensors),
}
