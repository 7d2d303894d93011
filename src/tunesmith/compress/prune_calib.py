"""Activation statistics for activation-based importance, gathered with forward hooks.

    acts = collect_activations(model, samples)
    acts.means["model.layers.0.self_attn"]      # [heads]  mean L2 norm of each head's output
    acts.means["model.layers.0.mlp"]            # [I]      mean |h_j| entering down_proj
    acts.means["model.layers.1.mlp.experts"]    # [E, I]   per routed expert, router-weighted
    acts.routed["model.layers.1.mlp.experts"]   # [E]      calibration tokens each expert got

Each calibration sample runs alone (batch of one, no padding), in eval mode without gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from transformers import PretrainedConfig

from tunesmith.compress.prune_layout import ffns_of, heads_of, layer_prefix
from tunesmith.tokenize.packing import Sample


@dataclass
class Activations:
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, torch.Tensor] = field(default_factory=dict)
    tokens: int = 0

    def add(self, key: str, total: torch.Tensor, n: torch.Tensor | int) -> None:
        total = total.detach().float().cpu()
        n = torch.as_tensor(n, dtype=torch.float64)
        if key in self.sums:
            self.sums[key] += total
            self.counts[key] += n
        else:
            self.sums[key], self.counts[key] = total, n.clone()

    @property
    def means(self) -> dict[str, torch.Tensor]:
        out = {}
        for key, total in self.sums.items():
            n = self.counts[key].clamp_min(1).to(total.dtype)
            out[key] = total / (n[:, None] if n.ndim else n)
        return out

    @property
    def routed(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.counts.items() if v.ndim}


def _head_hook(acts: Activations, key: str, n_heads: int):
    def hook(_module: torch.nn.Module, args: tuple) -> None:
        x = args[0].reshape(-1, n_heads, args[0].shape[-1] // n_heads)
        acts.add(key, x.float().norm(dim=-1).sum(0), x.shape[0])

    return hook


def _neuron_hook(acts: Activations, key: str):
    def hook(_module: torch.nn.Module, args: tuple) -> None:
        x = args[0].reshape(-1, args[0].shape[-1])
        acts.add(key, x.float().abs().sum(0), x.shape[0])

    return hook


def _experts_hook(acts: Activations, key: str):
    """Recompute each routed expert's intermediate activation for the tokens sent to it."""

    def hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        names = ("hidden_states", "top_k_index", "top_k_weights")
        values = list(args) + [kwargs[n] for n in names[len(args) :]]
        hidden, index, weights = values[:3]
        n_experts, size = module.gate_up_proj.shape[0], module.gate_up_proj.shape[1] // 2
        total = torch.zeros(n_experts, size)
        routed = torch.zeros(n_experts, dtype=torch.float64)
        for e in range(n_experts):
            tok, slot = (index == e).nonzero(as_tuple=True)
            if tok.numel() == 0:
                continue
            gate, up = F.linear(hidden[tok], module.gate_up_proj[e]).chunk(2, dim=-1)
            h = module.act_fn(gate) * up * weights[tok, slot, None]
            total[e] = h.float().abs().sum(0).cpu()
            routed[e] = tok.numel()
        acts.add(key, total, routed)

    return hook


@torch.no_grad()
def collect_activations(
    model: torch.nn.Module,
    config: PretrainedConfig,
    samples: list[Sample],
    *,
    heads: bool,
    ffn: bool,
) -> Activations:
    """Mean unit activations over `samples` for the units that will be pruned."""
    acts = Activations()
    handles = []
    if heads:
        n = heads_of(config).n_heads
        for i in range(config.num_hidden_layers):
            key = f"{layer_prefix(i)}.self_attn"
            o_proj = model.get_submodule(f"{key}.o_proj")
            handles.append(o_proj.register_forward_pre_hook(_head_hook(acts, key, n)))
    if ffn:
        for unit in ffns_of(config):
            module = model.get_submodule(unit.prefix)
            if unit.experts:
                hook = _experts_hook(acts, unit.prefix)
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                hook = _neuron_hook(acts, unit.prefix)
                handles.append(module.down_proj.register_forward_pre_hook(hook))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for s in samples:
            model(input_ids=torch.tensor([s.input_ids], device=device), use_cache=False)
            acts.tokens += len(s.input_ids)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return acts
