"""`method.name: prefix`: PEFT prefix tuning, including DeepSeek's MLA cache layout.

Prefix tuning prepends learned key/value states to every layer's KV cache. PEFT assumes
keys and values of one shape (heads x head_dim). DeepSeek-V3 / V2 in transformers 5 cache
the *compressed* MLA latent instead: per layer, a key slot of [batch, 1, P, kv_lora_rank]
and a value slot of [batch, 1, P, qk_rope_head_dim] (the shared rotary key). For those we
size PEFT's prefix as kv_lora_rank wide and register a post-process that trims the
value slot to the rotary width. Loading such an adapter in plain PEFT needs the same
registration: call `tunesmith.adapters.prefix.register_mla_prefix(base.config)` first
(`tunesmith.models.load.load_trained` does).
"""

from __future__ import annotations

import torch
from peft import PrefixTuningConfig
from peft.utils.constants import TRANSFORMERS_MODELS_TO_PREFIX_TUNING_POSTPROCESS_MAPPING
from transformers import DynamicCache, PretrainedConfig, PreTrainedModel

from tunesmith.config.schema import PrefixConfig

MLA_TYPES = ("deepseek_v3", "deepseek_v2")


def register_mla_prefix(config: PretrainedConfig) -> None:
    """Teach PEFT the MLA cache layout of `config`'s model type (idempotent)."""
    text = config.get_text_config()
    if text.model_type not in MLA_TYPES:
        return
    rope = int(text.qk_rope_head_dim)

    def to_cache(past: tuple[torch.Tensor, ...]) -> DynamicCache:
        # per layer [2, batch, heads, P, kv_lora_rank / heads] (PEFT splits token_dim over the
        # model's kv heads): fold the heads back into one latent; the value slot carries the
        # rotary key in its first qk_rope_head_dim features.
        cache = DynamicCache()
        for layer, kv in enumerate(past):
            b, _, p, _ = kv[0].shape
            key, value = (t.transpose(1, 2).reshape(b, p, -1).unsqueeze(1) for t in kv)
            cache.update(key, value[..., :rope].contiguous(), layer)
        return cache

    TRANSFORMERS_MODELS_TO_PREFIX_TUNING_POSTPROCESS_MAPPING[text.model_type] = to_cache


def prefix_config(model: PreTrainedModel, cfg: PrefixConfig) -> PrefixTuningConfig:
    text = model.config.get_text_config()
    extra = {}
    if text.model_type in MLA_TYPES:
        register_mla_prefix(model.config)
        extra = {"token_dim": text.kv_lora_rank}
    return PrefixTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=cfg.num_virtual_tokens,
        prefix_projection=cfg.projection,
        encoder_hidden_size=cfg.projection_dim,
        **extra,
    )
