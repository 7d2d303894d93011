"""The engine's own model forwards (as vLLM's `model_executor/models/`).

    native = build_native(hf_model)        # None: another architecture, the HF forward runs
    compile_native(native, buckets=(1, 8, 32))   # optional: torch.compile the decode pieces

Families: llama and qwen2 (`dense`), deepseek_v3 (`deepseek_v3`, MLA with the latent
cache). The weights are the HF model's own tensors (no copy) except the fused projections
(QKV, gate+up, MLA's q_a+kv_a), which are concatenated once at build time.
"""

from __future__ import annotations

import logging

import torch

from tunesmith.inference.models import deepseek_v3, dense, lora
from tunesmith.inference.models.base import NativeCausalLM
from tunesmith.inference.models.compiled import compile_native
from tunesmith.inference.models.deepseek_v3 import kv_bytes_per_token

log = logging.getLogger(__name__)

_FAMILIES = {name: module for module in (dense, deepseek_v3) for name in module.FAMILIES}
NATIVE_FAMILIES = tuple(_FAMILIES)


def native_unsupported(model: torch.nn.Module) -> str | None:
    """Why `model` runs on the HF forward instead of the engine's own (None: it does not)."""
    config = getattr(model, "config", None)
    family = getattr(config, "model_type", None)
    if family not in _FAMILIES:
        return f"architecture '{family}' has no engine forward ({', '.join(_FAMILIES)} do)"
    odd = next((p for p in model.parameters() if type(p.data) is not torch.Tensor), None)
    if odd is not None:
        return f"weights of type {type(odd.data).__name__} (quantized?) run on the HF forward"
    if hasattr(model, "peft_config"):
        why = lora.unsupported(model)
        if why is not None:
            return f"{why}: the adapters run on the HF forward"
    return _FAMILIES[family].unsupported(config)


def build_native(model: torch.nn.Module) -> NativeCausalLM | None:
    """The engine's own forward over `model`'s weights (a PeftModel's LoRA adapters batched
    per row, see `lora`), or None (logged) when it has none."""
    why = native_unsupported(model)
    if why is not None:
        log.info("engine: Hugging Face forward (%s)", why)
        return None
    build = _FAMILIES[model.config.model_type].build
    if not hasattr(model, "peft_config"):
        return build(model)
    adapters = lora.LoraSet(model)
    native = build(model.get_base_model(), adapters)
    missing = adapters.missing()
    if missing:
        log.info("engine: Hugging Face forward (LoRA on %s not in the own forward)", missing[0])
        return None
    return native


__all__ = [
    "NATIVE_FAMILIES",
    "NativeCausalLM",
    "build_native",
    "compile_native",
    "kv_bytes_per_token",
    "native_unsupported",
]
