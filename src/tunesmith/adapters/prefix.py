"""`method.name: prefix`: PEFT prefix tuning, including DeepSeek's MLA cache layout.

Prefix tuning prepends learned key/value states to every layer's KV cache. PEFT assumes
keys and values of one shape (heads x head_dim). DeepSeek-V3 / V2 in transformers 5 cache
the *compressed* MLA latent instead: per layer, a key slot of [batch, 1, P, kv_lora_rank]
and a value slot of [batch, 1, P, qk_rope_head_dim] (the shared rotary key). For those we
let PEFT size the prefix as usual (kv_heads x head_dim per slot) and register a post-process
that folds the heads and trims the key slot to the latent and the value slot to the rotary
width. Loading such an adapter in plain PEFT needs the same
registration: call `tunesmith.models.mla_prefix.register_mla_prefix(base.config)` first
(`tunesmith.models.load.load_trained` does).
"""

from __future__ import annotations

from peft import PrefixTuningConfig
from transformers import PreTrainedModel

from tunesmith.config.schema import PrefixConfig
from tunesmith.errors import ConfigError
from tunesmith.models.mla_prefix import MLA_TYPES, register_mla_prefix


def prefix_config(model: PreTrainedModel, cfg: PrefixConfig) -> PrefixTuningConfig:
    text = model.config.get_text_config()
    if text.model_type in MLA_TYPES:
        width = text.num_key_value_heads * text.head_dim
        if width < text.kv_lora_rank:
            raise ConfigError(
                f"method.name: prefix on this {text.model_type} needs num_key_value_heads x "
                f"head_dim ({width}) >= kv_lora_rank ({text.kv_lora_rank}) to hold the latent"
            )
        register_mla_prefix(model.config)
    return PrefixTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=cfg.num_virtual_tokens,
        prefix_projection=cfg.projection,
        encoder_hidden_size=cfg.projection_dim,
    )
