"""PEFT prefix tuning on DeepSeek's MLA cache layout: the registration a prefix adapter on an
MLA model needs before PEFT can build or load it (adapters/prefix.py explains the layout).
It lives with the models because loading a trained prefix adapter (`models/load.py`) needs it
as much as attaching a new one (`adapters/prefix.py`) does.
"""

from __future__ import annotations

import torch
from peft.utils.constants import TRANSFORMERS_MODELS_TO_PREFIX_TUNING_POSTPROCESS_MAPPING
from transformers import DynamicCache, PretrainedConfig

MLA_TYPES = ("deepseek_v3", "deepseek_v2")


def register_mla_prefix(config: PretrainedConfig) -> None:
    """Teach PEFT the MLA cache layout of `config`'s model type (idempotent)."""
    text = config.get_text_config()
    if text.model_type not in MLA_TYPES:
        return
    rope, latent = int(text.qk_rope_head_dim), int(text.kv_lora_rank)

    def to_cache(past: tuple[torch.Tensor, ...]) -> DynamicCache:
        # per layer [2, batch, kv_heads, P, head_dim] (PEFT sizes every prefix as kv_heads x
        # head_dim): fold the heads into one vector; the key slot's first kv_lora_rank
        # features are the latent, the value slot's first qk_rope_head_dim the rotary key.
        cache = DynamicCache()
        for layer, kv in enumerate(past):
            b, _, p, _ = kv[0].shape
            key, value = (t.transpose(1, 2).reshape(b, p, -1).unsqueeze(1) for t in kv)
            cache.update(key[..., :latent].contiguous(), value[..., :rope].contiguous(), layer)
        return cache

    TRANSFORMERS_MODELS_TO_PREFIX_TUNING_POSTPROCESS_MAPPING[text.model_type] = to_cache
