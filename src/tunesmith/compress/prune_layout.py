"""Where attention heads and FFN neurons live in the weights of each supported architecture.

Structured pruning removes whole units: an FFN neuron is one row of `gate_proj` and
`up_proj` and one column of `down_proj`; an attention head is a block of rows of the query
projection (and of the key / value projections when they go with it) and a block of
columns of `o_proj`. This module says, per architecture, which parameter slices make up
one unit, so the scoring and slicing code stays architecture-free.

    llama, qwen2    q/k/v/o_proj (GQA: query heads share a key/value head), gate/up/down_proj
    deepseek_v3     MLA: q_b_proj (or q_proj), kv_b_proj, o_proj per head; dense MLP in the
                    first `first_k_dense_replace` layers, then shared experts and routed
                    experts (fused `experts.gate_up_proj` [E, 2I, H], `experts.down_proj` [E, H, I])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import PretrainedConfig

from tunesmith.errors import ConfigError

SUPPORTED = ("llama", "qwen2", "deepseek_v3")


@dataclass(frozen=True)
class Cut:
    """Parameter `suffix` (below a layer or MLP prefix) holds one unit per `block` entries
    along `dim`; `offset` (in blocks) skips leading units (the up half of gate_up_proj)."""

    suffix: str
    dim: int
    block: int = 1
    offset: int = 0
    output: bool = False  # the projection the unit writes through (o_proj, down_proj)


@dataclass
class Heads:
    """Attention heads of every layer: the query heads, grouped by the key/value head they
    share. `kv_cuts` are sliced per kept key/value head, `q_cuts` per kept query head."""

    n_heads: int
    n_kv: int
    q_cuts: list[Cut]
    kv_cuts: list[Cut] = field(default_factory=list)
    pin_head_dim: int | None = None  # head_dim to write into the config (llama / qwen2)

    @property
    def groups(self) -> int:
        """Independent groups heads are removed from in equal numbers."""
        return 1 if self.n_kv == self.n_heads else self.n_kv

    @property
    def group_size(self) -> int:
        return self.n_heads // self.groups

    @property
    def kv_follow_q(self) -> bool:
        """MHA: each query head has its own key/value head, which goes with it."""
        return self.n_kv == self.n_heads


@dataclass(frozen=True)
class Ffn:
    """One MLP whose intermediate neurons can be pruned: `prefix` names the module in the
    state dict; `experts` > 0 for fused routed experts (each expert prunes its own neurons)."""

    prefix: str
    size: int
    config_key: str  # the config field that sets this size
    experts: int = 0

    @property
    def cuts(self) -> list[Cut]:
        if self.experts:  # [E, 2I, H] gate rows then up rows; [E, H, I]
            return [
                Cut("gate_up_proj", 1),
                Cut("gate_up_proj", 1, offset=self.size),
                Cut("down_proj", 2, output=True),
            ]
        return [
            Cut("gate_proj.weight", 0),
            Cut("up_proj.weight", 0),
            Cut("down_proj.weight", 1, output=True),
        ]


def check_supported(config: PretrainedConfig, what: str) -> None:
    if config.model_type not in SUPPORTED:
        raise ConfigError(
            f"--model: structured pruning of {what} supports {', '.join(SUPPORTED)} models; "
            f"this one is {config.model_type} (unstructured pruning works on any model: "
            "--mode unstructured)"
        )


def heads_of(config: PretrainedConfig) -> Heads:
    n, kv = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    if config.model_type == "deepseek_v3":
        qk = config.qk_nope_head_dim + config.qk_rope_head_dim
        q = "self_attn.q_b_proj.weight" if config.q_lora_rank else "self_attn.q_proj.weight"
        cuts = [
            Cut(q, 0, qk),
            Cut("self_attn.kv_b_proj.weight", 0, config.qk_nope_head_dim + config.v_head_dim),
            Cut("self_attn.o_proj.weight", 1, config.v_head_dim, output=True),
        ]
        return Heads(n, n, cuts)  # every head has its own key/value expansion (kv_b_proj)
    d = getattr(config, "head_dim", None) or config.hidden_size // n
    q_cuts = [
        Cut("self_attn.q_proj.weight", 0, d),
        Cut("self_attn.o_proj.weight", 1, d, output=True),
    ]
    kv_cuts = [Cut(f"self_attn.{p}_proj.weight", 0, d) for p in "kv"]
    # Qwen2 always has q/k/v biases, Llama when attention_bias (o_proj's bias is per output
    # feature, not per head, and stays whole)
    if config.model_type == "qwen2" or getattr(config, "attention_bias", False):
        q_cuts.append(Cut("self_attn.q_proj.bias", 0, d))
        kv_cuts += [Cut(f"self_attn.{p}_proj.bias", 0, d) for p in "kv"]
    return Heads(n, kv, q_cuts, kv_cuts, pin_head_dim=d)


def ffns_of(config: PretrainedConfig) -> list[Ffn]:
    """Every prunable MLP, in layer order."""
    out = []
    for i in range(config.num_hidden_layers):
        mlp = f"model.layers.{i}.mlp"
        if config.model_type != "deepseek_v3" or i < config.first_k_dense_replace:
            out.append(Ffn(mlp, config.intermediate_size, "intermediate_size"))
            continue
        moe = config.moe_intermediate_size
        if config.n_shared_experts:
            shared = moe * config.n_shared_experts
            out.append(Ffn(f"{mlp}.shared_experts", shared, "moe_intermediate_size"))
        out.append(Ffn(f"{mlp}.experts", moe, "moe_intermediate_size", config.n_routed_experts))
    return out


def layer_prefix(i: int) -> str:
    return f"model.layers.{i}"
