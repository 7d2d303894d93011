"""Which modules and parameters LoRA adapts, per architecture.

Qwen2 / Llama: every nn.Linear but the head is adapted as a module (q/k/v/o, gate/up/down).

DeepSeek-V3 / V2 (and other MoE models that transformers 5 stores with fused experts): the
MLA projections (`q_a_proj`, `q_b_proj` or `q_proj`, `kv_a_proj_with_mqa`, `kv_b_proj`,
`o_proj`) are adapted as modules; the routed experts (3-D `gate_up_proj` / `down_proj`
tensors) and the shared experts / dense MLP as *parameters* (PEFT `target_parameters`).
The MLP must go through parameters: PEFT rewrites `gate_proj/up_proj/down_proj` module
targets on these models to the routed experts when it loads an adapter (it assumes the v4
checkpoint layout), so a module target there would load wrong in plain PEFT. A parameter
target loads as written, so the saved adapter means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import PreTrainedModel

from tunesmith.errors import ConfigError

EXPERTS = "experts"  # the name users write for the routed experts


@dataclass
class LoraTargets:
    modules: list[str] = field(default_factory=list)  # leaf module names (PEFT target_modules)
    parameters: list[str] = field(default_factory=list)  # parameter suffixes (target_parameters)

    def __bool__(self) -> bool:
        return bool(self.modules or self.parameters)


def _remapped_names(model: PreTrainedModel) -> set[str]:
    """Leaf names PEFT would remap to fused experts on this architecture (empty if none)."""
    try:
        from peft.utils.transformers_weight_conversion import (
            _MODEL_TO_CONVERSION_PATTERN,
            _MOE_TARGET_MODULE_MAPPING,
        )
    except ImportError:  # an older PEFT without the v5 conversion
        return set()
    pattern = _MODEL_TO_CONVERSION_PATTERN.get(getattr(model.config, "model_type", ""))
    return set(_MOE_TARGET_MODULE_MAPPING.get(pattern, {})) if pattern else set()


def _linear_modules(model: PreTrainedModel) -> dict[str, torch.nn.Linear]:
    head = model.get_output_embeddings()
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and m is not head
    }


def _fused_expert_params(model: PreTrainedModel) -> list[str]:
    """Suffixes `<container>.<param>` of 3-D expert tensors, e.g. 'experts.gate_up_proj'."""
    out = set()
    for name, p in model.named_parameters():
        container, _, leaf = name.rpartition(".")
        if p.ndim == 3 and container.rsplit(".", 1)[-1] == EXPERTS:
            out.add(f"mlp.{EXPERTS}.{leaf}" if container.endswith(f"mlp.{EXPERTS}") else name)
    return sorted(out)


def valid_target_names(model: PreTrainedModel) -> list[str]:
    """What `method.lora.target_modules` may name on this model."""
    names = {n.rsplit(".", 1)[-1] for n in _linear_modules(model)}
    if _fused_expert_params(model):
        names.add(EXPERTS)
    return sorted(names)


def resolve_targets(
    model: PreTrainedModel, wanted: list[str], *, modules_only: bool = False, field: str = ""
) -> LoraTargets:
    """Module and parameter targets for `wanted` (leaf names or ['all-linear']).

    `modules_only` (DoRA: PEFT's DoRA has no parameter form) keeps what can be a module
    target and refuses explicit names that cannot.
    """
    field = field or "method.lora.target_modules"
    valid = valid_target_names(model)
    names = valid if wanted == ["all-linear"] else list(wanted)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ConfigError(
            f"{field}: {unknown} not in this model ({model.config.model_type}); "
            f"valid: {', '.join(valid)} (or 'all-linear')"
        )
    remapped = _remapped_names(model)
    linear = _linear_modules(model)
    out = LoraTargets()
    for name in names:
        if name == EXPERTS:
            as_params = _fused_expert_params(model)
        elif name in remapped:
            as_params = sorted(
                {
                    f"{full.rsplit('.', 2)[-2]}.{name}.weight"
                    for full in linear
                    if full.rsplit(".", 1)[-1] == name
                }
            )
        else:
            out.modules.append(name)
            continue
        if modules_only:
            if wanted != ["all-linear"]:
                raise ConfigError(
                    f"{field}: '{name}' is adapted through its weight tensor on "
                    f"{model.config.model_type}, which DoRA does not support; with dora use: "
                    f"{', '.join(n for n in valid if n not in remapped and n != EXPERTS)}"
                )
            continue
        out.parameters.extend(as_params)
    return out
