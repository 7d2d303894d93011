"""DeepSeek-V3 (MLA + MoE) in the engine's own forward, with the latent KV cache.

MLA as DeepSeek designed it for inference (DeepSeek-V2 paper, section 2.1.3; vLLM's MLA
backend): per token and layer the cache holds only the normalised compressed latent `c_kv`
(`kv_lora_rank` features) and the shared rotary key (`qk_rope_head_dim`), one
`[kv_lora_rank + qk_rope_head_dim]` row instead of every head's expanded key and value.
`kv_b_proj` is split into its key half `W_UK` `[H, nope, r]` and value half `W_UV`
`[H, v, r]`, and absorbed:

    score_h = (q_nope_h W_UK_h) . c_kv + q_rope_h . k_rope      (query side)
    out_h   = (sum_j p_hj c_kv_j) W_UV_h^T                      (output side)

so attention is multi-query attention with one key head `[c_kv, k_rope]` whose first
`kv_lora_rank` features are also the value, for decode and prefill alike (the scale stays
1 / sqrt(qk_nope_head_dim + qk_rope_head_dim), with YaRN's mscale as in HF).

MoE: DeepSeek-V3's sigmoid router with the score-correction bias and group-limited top-k,
as in transformers; with few experts (<= 16) every expert runs on every row and the
outputs are weighted (one batched matmul, no data-dependent shapes, compile-friendly), with
more only the routed rows of each expert run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.inference.models.base import Functions, NativeCausalLM, lora_stacks, with_rows
from tunesmith.inference.models.layers import (
    activation,
    cat_weights,
    fused_mlp,
    rms_norm,
    rope,
    rope_interleaved,
)
from tunesmith.inference.models.lora import Lora, LoraSet, base_linear, lora_linear

FAMILIES = ("deepseek_v3",)
DENSE_EXPERTS_MAX = 16


def mla_pre(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    norm: torch.Tensor,
    eps: float,
    a_proj: torch.Tensor,
    a_bias: torch.Tensor | None,
    q_norm: torch.Tensor | None,
    q_b: torch.Tensor | None,
    kv_norm: torch.Tensor,
    w_uk: torch.Tensor,
    dims: tuple[int, int, int, int, int],
    interleave: bool,
    lora: Lora | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> query `[T, H, r + rope]`, latent key `[T, 1, r + rope]`, empty value `[T, 1, 0]`.
    `w_uk` `[H, nope, r]`, or `[N + 1, H, nope, r]` per adapter (LoRA on kv_b_proj)."""
    heads, nope, rope_dim, rank, q_width = dims
    t = x.shape[0]
    a = lora_linear(rms_norm(x, norm, eps), a_proj, a_bias, lora, "a")
    q, c_kv, k_rot = a.split([q_width, rank, rope_dim], dim=-1)
    if q_b is not None:
        q = lora_linear(rms_norm(q, q_norm, eps), q_b, None, lora, "q_b")
    q_nope, q_rot = q.reshape(t, heads, nope + rope_dim).split([nope, rope_dim], dim=-1)
    k_rot = k_rot.reshape(t, 1, rope_dim)
    turn = rope_interleaved if interleave else rope
    q_rot, k_rot = turn(q_rot, cos, sin), turn(k_rot, cos, sin)
    if w_uk.dim() == 4 and isinstance(lora["idx"], int):
        q_lat = torch.einsum("thn,hnr->thr", q_nope, w_uk[lora["idx"]])
    elif w_uk.dim() == 4:
        q_lat = torch.einsum("thn,thnr->thr", q_nope, w_uk[lora["idx"]])
    else:
        q_lat = torch.einsum("thn,hnr->thr", q_nope, w_uk)
    c_kv = rms_norm(c_kv, kv_norm, eps)
    key = torch.cat([c_kv[:, None], k_rot], dim=-1)
    return torch.cat([q_lat, q_rot], dim=-1), key, key.new_empty(t, 1, 0)


def mla_out(
    x: torch.Tensor, attn: torch.Tensor, w_uv: torch.Tensor, o: torch.Tensor, o_bias, lora
) -> torch.Tensor:  # fmt: skip
    """Residual + o_proj of the latent attention output `[T, H, r]` up-projected per head."""
    if w_uv.dim() == 4 and isinstance(lora["idx"], int):
        out = torch.einsum("thr,hvr->thv", attn, w_uv[lora["idx"]])
    elif w_uv.dim() == 4:
        out = torch.einsum("thr,thvr->thv", attn, w_uv[lora["idx"]])
    else:
        out = torch.einsum("thr,hvr->thv", attn, w_uv)
    return x + lora_linear(out.reshape(x.shape[0], -1), o, o_bias, lora, "o")


def mla_post_dense(
    x, attn, w_uv, o, o_bias, norm, eps, lora, gate_up, down, act
) -> torch.Tensor:  # fmt: skip
    x = mla_out(x, attn, w_uv, o, o_bias, lora)
    return x + fused_mlp(rms_norm(x, norm, eps), gate_up, down, act, lora)


def mla_post_moe(
    x, attn, w_uv, o, o_bias, norm, eps, lora, shared_gate_up, shared_down, act,
    router, router_bias, experts_gate_up, experts_down, routing,
) -> torch.Tensor:  # fmt: skip
    x = mla_out(x, attn, w_uv, o, o_bias, lora)
    h = rms_norm(x, norm, eps)
    weights = route(h, router, router_bias, *routing)
    routed = experts(h, weights, experts_gate_up, experts_down, act)
    return x + routed + fused_mlp(h, shared_gate_up, shared_down, act, lora, "shared_")


def route(
    h: torch.Tensor,
    router: torch.Tensor,
    bias: torch.Tensor,
    top_k: int,
    groups: int,
    top_groups: int,
    norm_topk: bool,
    scale: float,
) -> torch.Tensor:
    """Routing weights `[T, E]` (zero for experts a row does not use), fp32, as HF's
    `DeepseekV3TopkRouter`: sigmoid scores, bias-corrected group-limited top-k."""
    t, e = h.shape[0], router.shape[0]
    scores = F.linear(h.float(), router.float()).sigmoid()
    choice = scores + bias
    group_scores = choice.view(t, groups, e // groups).topk(2, dim=-1)[0].sum(dim=-1)
    group_idx = group_scores.topk(top_groups, dim=-1, sorted=False)[1]
    group_mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1)
    mask = group_mask[:, :, None].expand(t, groups, e // groups).reshape(t, e)
    choice = choice.masked_fill(mask == 0, float("-inf"))
    idx = choice.topk(top_k, dim=-1, sorted=False)[1]
    w = scores.gather(1, idx)
    if norm_topk:
        w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
    return torch.zeros_like(scores).scatter_(1, idx, w * scale)


def experts(
    h: torch.Tensor, weights: torch.Tensor, gate_up: torch.Tensor, down: torch.Tensor, act: str
) -> torch.Tensor:
    """Sum over experts of weight * expert(h): `gate_up` `[E, 2I, D]`, `down` `[E, D, I]`."""
    if gate_up.shape[0] <= DENSE_EXPERTS_MAX:
        gate, up = torch.matmul(h[None], gate_up.transpose(1, 2)).chunk(2, dim=-1)
        out = torch.matmul(activation(gate, act) * up, down.transpose(1, 2))  # [E, T, D]
        return (out * weights.t()[:, :, None].to(out.dtype)).sum(0)
    total = torch.zeros_like(h)
    for e in weights.nonzero()[:, 1].unique().tolist():
        rows = weights[:, e].nonzero()[:, 0]
        gate, up = F.linear(h[rows], gate_up[e]).chunk(2, dim=-1)
        y = F.linear(activation(gate, act) * up, down[e]) * weights[rows, e, None].to(h.dtype)
        total.index_add_(0, rows, y)
    return total


class MLALayer:
    def __init__(
        self,
        hf_layer: torch.nn.Module,
        config: object,
        functions: Functions,
        adapters: LoraSet | None = None,
    ):
        attn, mlp = hf_layer.self_attn, hf_layer.mlp
        self.fns = functions
        first = attn.q_a_proj if attn.q_a_proj is not None else attn.q_proj
        moe = hasattr(mlp, "experts")
        dense_mlp = mlp.shared_experts if moe else mlp
        prefix = "shared_" if moe else ""
        self.lora = lora_stacks(
            adapters,
            a=(first, attn.kv_a_proj_with_mqa),
            q_b=(attn.q_b_proj,) if attn.q_b_proj is not None else (),
            o=(attn.o_proj,),
            **{
                prefix + "gate_up": (dense_mlp.gate_proj, dense_mlp.up_proj),
                prefix + "down": (dense_mlp.down_proj,),
            },
        )
        nope, rope_dim, v = config.qk_nope_head_dim, config.qk_rope_head_dim, config.v_head_dim
        rank = config.kv_lora_rank
        heads = base_linear(attn.kv_b_proj).weight.shape[0] // (nope + v)  # pruned: fewer
        self.value_width = rank
        self.scaling = float(attn.scaling)
        self.act = config.hidden_act
        self.interleave = bool(getattr(config, "rope_interleave", True))
        self.norm1 = hf_layer.input_layernorm.weight.detach()
        self.eps = float(hf_layer.input_layernorm.variance_epsilon)
        self.norm2 = hf_layer.post_attention_layernorm.weight.detach()
        self.a_proj, self.a_bias = cat_weights(first, attn.kv_a_proj_with_mqa)
        self.q_norm = attn.q_a_layernorm.weight.detach() if attn.q_a_layernorm is not None else None
        self.q_b = cat_weights(attn.q_b_proj)[0] if attn.q_b_proj is not None else None
        self.kv_norm = attn.kv_a_layernorm.weight.detach()
        if adapters is not None and hasattr(attn.kv_b_proj, "lora_A"):
            kv_b = adapters.merged(attn.kv_b_proj).view(-1, heads, nope + v, rank)
        else:
            kv_b = cat_weights(attn.kv_b_proj)[0].view(heads, nope + v, rank)
        self.w_uk = kv_b[..., :nope, :].contiguous()
        self.w_uv = kv_b[..., nope:, :].contiguous()
        self.dims = (heads, nope, rope_dim, rank, base_linear(first).weight.shape[0])
        self.o, self.o_bias = cat_weights(attn.o_proj)
        self.moe = moe
        if self.moe:
            gate = mlp.gate
            self.shared_gate_up, _ = cat_weights(
                mlp.shared_experts.gate_proj, mlp.shared_experts.up_proj
            )
            self.shared_down = cat_weights(mlp.shared_experts.down_proj)[0]
            self.router = gate.weight.detach()
            self.router_bias = gate.e_score_correction_bias.detach().float()
            self.routing = (
                gate.top_k, gate.num_group, gate.topk_group, bool(gate.norm_topk_prob),
                float(gate.routed_scaling_factor),
            )  # fmt: skip
            self.experts_gate_up = mlp.experts.gate_up_proj.detach()
            self.experts_down = mlp.experts.down_proj.detach()
        else:
            self.gate_up, _ = cat_weights(mlp.gate_proj, mlp.up_proj)
            self.down = cat_weights(mlp.down_proj)[0]
        if self.w_uk.dim() == 4:
            self.lora["kv_b"] = ()  # rows are needed for the per-adapter W_UK / W_UV

    def pre(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, rows) -> tuple:  # noqa: ANN001
        return self.fns["mla_pre"](
            x, cos, sin, self.norm1, self.eps, self.a_proj, self.a_bias, self.q_norm, self.q_b,
            self.kv_norm, self.w_uk, self.dims, self.interleave, with_rows(self.lora, rows),
        )  # fmt: skip

    def post(self, x: torch.Tensor, attn: torch.Tensor, rows) -> torch.Tensor:  # noqa: ANN001
        lora = with_rows(self.lora, rows)
        head = (x, attn, self.w_uv, self.o, self.o_bias, self.norm2, self.eps, lora)
        if not self.moe:
            return self.fns["mla_post_dense"](*head, self.gate_up, self.down, self.act)
        return self.fns["mla_post_moe"](
            *head, self.shared_gate_up, self.shared_down, self.act, self.router,
            self.router_bias, self.experts_gate_up, self.experts_down, self.routing,
        )  # fmt: skip


FUNCTIONS = {"mla_pre": mla_pre, "mla_post_dense": mla_post_dense, "mla_post_moe": mla_post_moe}


def unsupported(config: object) -> str | None:
    if config.num_attention_heads != config.num_key_value_heads:
        return "num_key_value_heads != num_attention_heads in MLA"
    return None


def build(hf_model: torch.nn.Module, adapters: LoraSet | None = None) -> NativeCausalLM:
    functions = Functions(dict(FUNCTIONS))
    config = hf_model.config
    layers = [MLALayer(lyr, config, functions, adapters) for lyr in hf_model.model.layers]
    return NativeCausalLM(hf_model, layers, functions, config.model_type, adapters)


def kv_bytes_per_token(config: object, dtype_bytes: int = 2) -> dict[str, int]:
    """KV cache bytes per token (all layers) for an MLA config: the latent cache
    (`kv_lora_rank + qk_rope_head_dim` per layer) vs the expanded one (every head's key of
    `qk_nope + qk_rope` and value of `v_head_dim`), at `dtype_bytes` per element."""
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    latent = layers * (config.kv_lora_rank + config.qk_rope_head_dim) * dtype_bytes
    key = config.qk_nope_head_dim + config.qk_rope_head_dim
    expanded = layers * heads * (key + config.v_head_dim) * dtype_bytes
    return {"latent": latent, "expanded": expanded}
