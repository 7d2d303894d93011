"""Structured pruning: remove the least important FFN neurons and attention heads.

    new_sd, new_config, layers = prune_units(state_dict, config, ffn_ratio=0.25,
                                             head_ratio=0.5, activations=None)

Importance of a unit (a neuron or a head):
  magnitude   product of the L2 norms of the weight slices that go with the unit (neuron j:
              gate row j, up row j, down column j; head h: its query rows and o_proj columns,
              plus key/value rows where those go with it).
  activation  mean size of the unit's output on calibration tokens (|h_j| for a neuron, the
              L2 norm of the head's attention output for a head) times the L2 norm of the
              o_proj / down_proj columns it is written through: an estimate of how much it
              adds to the residual stream. Routed experts count the tokens routed to them,
              weighted by the router; an expert no calibration token reached falls back to
              magnitude.

Every layer keeps the same number of units (a config has one intermediate_size and one
num_attention_heads), chosen per layer by its own scores. Under GQA, query heads are removed
in equal numbers from every key/value group and the key/value heads stay; with one key/value
head per query head (MHA, and DeepSeek's MLA) a head's keys and values go with it.
"""

from __future__ import annotations

import copy

import torch
from transformers import PretrainedConfig

from tunesmith.compress.prune_layout import Cut, Ffn, Heads, ffns_of, heads_of, layer_prefix
from tunesmith.compress.prune_unstructured import count
from tunesmith.errors import ConfigError

State = dict[str, torch.Tensor]


def unit_norms(t: torch.Tensor, cut: Cut, n: int) -> torch.Tensor:
    """L2 norm of each of the n units `cut` marks in `t`."""
    x = t.detach().float().movedim(cut.dim, 0)
    x = x[cut.offset * cut.block : (cut.offset + n) * cut.block]
    return x.reshape(n, -1).norm(dim=1)


def take(t: torch.Tensor, cut: Cut, keep: torch.Tensor) -> torch.Tensor:
    """The slices of `t` that hold the kept units (indices `keep`), in order."""
    rows = (keep + cut.offset)[:, None] * cut.block + torch.arange(cut.block)
    return t.index_select(cut.dim, rows.flatten().to(t.device))


def _score(
    sd: State, prefix: str, cuts: list[Cut], n: int, act: torch.Tensor | None
) -> torch.Tensor:
    weights = [c for c in cuts if not c.suffix.endswith("bias")]
    if act is not None:
        out = next(c for c in weights if c.output)
        return act.float() * unit_norms(sd[f"{prefix}.{out.suffix}"], out, n)
    score = torch.ones(n)
    for c in weights:
        score = score * unit_norms(sd[f"{prefix}.{c.suffix}"], c, n)
    return score


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k highest scores, in ascending index order."""
    return torch.topk(scores, k).indices.sort().values


def heads_to_keep(heads: Heads, ratio: float) -> int:
    """Query heads kept per key/value group; ConfigError when none or all would go."""
    size, groups = heads.group_size, heads.groups
    removed = count(ratio * size)
    where = (
        f"{heads.n_heads} query heads in {groups} key/value groups of {size}"
        if groups > 1
        else f"{heads.n_heads} heads"
    )
    unit = "per key/value group " if groups > 1 else ""
    if removed >= size:
        top = (size - 0.5) / size
        raise ConfigError(
            f"--head-ratio: {ratio:g} removes too many heads: it would remove all {size} heads "
            f"{unit}({where}); at least one must stay {unit}(use --head-ratio below {top:g})"
        )
    if removed == 0:
        raise ConfigError(
            f"--head-ratio: {ratio:g} removes no head ({where}; the smallest ratio that removes "
            f"one {unit}is {0.5 / size:g})"
        )
    return size - removed


def keep_heads(
    sd: State, heads: Heads, layer: int, keep: int, act: torch.Tensor | None
) -> torch.Tensor:
    prefix = layer_prefix(layer)
    cuts = heads.q_cuts + (heads.kv_cuts if heads.kv_follow_q else [])
    scores = _score(sd, prefix, cuts, heads.n_heads, act).reshape(heads.groups, -1)
    per_group = [_top(s, keep) + g * heads.group_size for g, s in enumerate(scores)]
    return torch.cat(per_group)


def cut_heads(sd: State, heads: Heads, layer: int, kept: torch.Tensor) -> None:
    prefix = layer_prefix(layer)
    for c in heads.q_cuts + (heads.kv_cuts if heads.kv_follow_q else []):
        key = f"{prefix}.{c.suffix}"
        sd[key] = take(sd[key], c, kept)


def keep_neurons(
    sd: State, ffn: Ffn, keep: int, act: torch.Tensor | None, counts: torch.Tensor | None
) -> torch.Tensor:
    """Kept neuron indices: [keep] for an MLP, [experts, keep] for fused routed experts."""
    if not ffn.experts:
        return _top(_score(sd, ffn.prefix, ffn.cuts, ffn.size, act), keep)
    rows = []
    for e in range(ffn.experts):
        expert = {f"{ffn.prefix}.{c.suffix}": sd[f"{ffn.prefix}.{c.suffix}"][e] for c in ffn.cuts}
        cuts = [Cut(c.suffix, c.dim - 1, c.block, c.offset, c.output) for c in ffn.cuts]
        reached = act is not None and counts is not None and counts[e] > 0
        rows.append(
            _top(_score(expert, ffn.prefix, cuts, ffn.size, act[e] if reached else None), keep)
        )
    return torch.stack(rows)


def cut_neurons(sd: State, ffn: Ffn, kept: torch.Tensor) -> None:
    by_param: dict[str, list[Cut]] = {}
    for c in ffn.cuts:
        by_param.setdefault(c.suffix, []).append(c)
    for suffix, cuts in by_param.items():
        key = f"{ffn.prefix}.{suffix}"
        if not ffn.experts:
            sd[key] = torch.cat([take(sd[key], c, kept) for c in cuts], dim=cuts[0].dim)
            continue
        inner = [Cut(c.suffix, c.dim - 1, c.block, c.offset) for c in cuts]
        sd[key] = torch.stack(
            [
                torch.cat([take(sd[key][e], c, kept[e]) for c in inner], dim=inner[0].dim)
                for e in range(ffn.experts)
            ]
        )


def new_sizes(config: PretrainedConfig, ratio: float) -> dict[str, int]:
    """The pruned value of each FFN size field in the config."""
    keys = {f.config_key for f in ffns_of(config)}
    return {k: getattr(config, k) - count(ratio * getattr(config, k)) for k in sorted(keys)}


def prune_units(
    sd: State,
    config: PretrainedConfig,
    *,
    ffn_ratio: float,
    head_ratio: float,
    activations: dict[str, torch.Tensor] | None = None,
    routed: dict[str, torch.Tensor] | None = None,
) -> tuple[State, PretrainedConfig, list[dict]]:
    """Prune `sd` (a copy is changed) and return it with the matching config and, per layer,
    what was kept. `activations` (by module prefix) switch importance to activation-based;
    `routed` holds the calibration token count of each routed expert."""
    sd = dict(sd)
    new = copy.deepcopy(config)
    layers: list[dict] = [{"layer": i} for i in range(config.num_hidden_layers)]
    act = activations or {}
    if head_ratio > 0:
        heads = heads_of(config)
        keep = heads_to_keep(heads, head_ratio)
        for i in range(config.num_hidden_layers):
            kept = keep_heads(sd, heads, i, keep, act.get(f"{layer_prefix(i)}.self_attn"))
            cut_heads(sd, heads, i, kept)
            layers[i]["heads_kept"] = kept.tolist()
        new.num_attention_heads = keep * heads.groups
        new.num_key_value_heads = new.num_attention_heads if heads.kv_follow_q else heads.n_kv
        if heads.pin_head_dim is not None:
            new.head_dim = heads.pin_head_dim
    if ffn_ratio > 0:
        sizes = new_sizes(config, ffn_ratio)
        for ffn in ffns_of(config):
            keep = sizes[ffn.config_key] * ffn.size // getattr(config, ffn.config_key)
            if keep < 1:
                raise ConfigError(f"--ffn-ratio: {ffn_ratio:g} leaves no neuron in {ffn.prefix}")
            counts = (routed or {}).get(ffn.prefix)
            kept = keep_neurons(sd, ffn, keep, act.get(ffn.prefix), counts)
            cut_neurons(sd, ffn, kept)
            layer = layers[int(ffn.prefix.split(".")[2])]
            layer.setdefault("ffn_kept", {})[ffn.prefix.split(".mlp")[1].lstrip(".") or "mlp"] = (
                keep
            )
        for key, value in sizes.items():
            setattr(new, key, value)
    return sd, new, layers
