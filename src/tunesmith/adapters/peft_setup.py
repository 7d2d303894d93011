"""Attach the fine-tuning method to a model: the LoRA family and prefix tuning through PEFT,
`freeze` (chosen layers / modules in full) and `full`."""

from __future__ import annotations

import torch
from peft import get_peft_model, prepare_model_for_kbit_training
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.adapters.freeze import apply_freeze, trainable_names
from tunesmith.adapters.lora import LORA_FAMILY, lora_config, lora_targets, save_targets, token_ids
from tunesmith.adapters.prefix import prefix_config
from tunesmith.config.schema import Config, MethodConfig
from tunesmith.errors import ConfigError

ADAPTER_METHODS = (*LORA_FAMILY, "prefix")  # the ones that save a PEFT adapter directory


def check_method_before_load(cfg: Config) -> None:
    """Checks that need no weights: hardware and option combinations (ConfigError)."""
    m = cfg.method
    if m.name == "qlora":
        if not torch.cuda.is_available():
            raise ConfigError(
                "method.name: qlora loads the base in 4-bit with bitsandbytes, which needs a "
                "CUDA GPU; none is visible here. Use method.name=lora (same adapter format) "
                "on CPU"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                "method.name: qlora needs bitsandbytes; pip install 'tunesmith[cuda]'"
            ) from e
        if cfg.distributed.strategy in ("deepspeed", "fsdp") and cfg.distributed.zero_stage == 3:
            raise ConfigError("method.name: qlora cannot shard a 4-bit base with ZeRO-3")
    if m.name == "prefix" and cfg.data.packing:
        raise ConfigError(
            "data.packing: prefix tuning prepends virtual tokens to every sample, which a "
            "packed row cannot express; set data.packing=false"
        )
    if m.name == "prefix" and cfg.train.gradient_checkpointing:
        raise ConfigError(
            "train.gradient_checkpointing: PEFT prefix tuning does not work with gradient "
            "checkpointing; set it to false (prefix tuning trains few parameters anyway)"
        )
    if m.lora.plus_lr_ratio and m.name not in LORA_FAMILY:
        raise ConfigError(
            f"method.lora.plus_lr_ratio: LoRA+ applies to lora/dora/qlora, not {m.name}"
        )


def check_method(
    model: PreTrainedModel, method: MethodConfig, tok: PreTrainedTokenizerBase | None
) -> None:
    """Every name in `method` resolves on this model and tokenizer (ConfigError otherwise).

    The loop calls this before it writes anything; `attach_method` resolves the same names.
    """
    if method.name in LORA_FAMILY:
        if not lora_targets(model, method):
            raise ConfigError("method.lora.target_modules: nothing to adapt on this model")
        save_targets(model, method)
        token_ids(tok, method)
    elif method.name == "freeze":
        trainable_names(model, method.freeze)


def attach_method(
    model: PreTrainedModel, method: MethodConfig, tok: PreTrainedTokenizerBase | None = None
) -> torch.nn.Module:
    """Return the model ready to train with `method`; only its trainable params require grad."""
    if method.name == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if method.name == "freeze":
        return apply_freeze(model, method.freeze)
    if method.name == "prefix":
        return get_peft_model(model, prefix_config(model, method.prefix))
    if method.name == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, lora_config(model, method, tok))
