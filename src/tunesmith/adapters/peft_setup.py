"""Attach the fine-tuning method to a model: LoRA through PEFT, or full fine-tuning."""

from __future__ import annotations

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.config.schema import MethodConfig
from tunesmith.errors import ConfigError


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Leaf names of every nn.Linear except the output head (what 'all-linear' adapts)."""
    head = model.get_output_embeddings()
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }
    return sorted(names)


def lora_targets(model: PreTrainedModel, method: MethodConfig) -> list[str]:
    """The module names LoRA adapts; an unknown name is a ConfigError listing the valid ones."""
    valid = linear_module_names(model)
    wanted = method.lora.target_modules
    if wanted == ["all-linear"]:
        return valid
    unknown = [m for m in wanted if m not in valid]
    if unknown:
        raise ConfigError(
            f"method.lora.target_modules: {unknown} not in this model; "
            f"valid: {', '.join(valid)} (or 'all-linear')"
        )
    return list(wanted)


def save_targets(model: PreTrainedModel, method: MethodConfig) -> list[str]:
    """`method.lora.modules_to_save`, checked against the model's module names."""
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name}
    unknown = [m for m in method.lora.modules_to_save if m not in names]
    if unknown:
        top = sorted(name for name, _ in model.named_children()) + ["lm_head"]
        raise ConfigError(
            f"method.lora.modules_to_save: {unknown} not in this model; "
            f"e.g. {', '.join(sorted(set(top)))}, embed_tokens"
        )
    return list(method.lora.modules_to_save)


def token_ids(tok: PreTrainedTokenizerBase | None, method: MethodConfig) -> list[int]:
    """Ids of `method.lora.trainable_tokens` ('all-special': every added token, i.e. bos, eos,
    pad and the chat template's markers)."""
    wanted = method.lora.trainable_tokens
    if not wanted:
        return []
    if tok is None:
        raise ConfigError("method.lora.trainable_tokens: needs the tokenizer")
    vocab = tok.get_vocab()
    ids: set[int] = set()
    for token in wanted:
        if token == "all-special":
            ids |= set(tok.added_tokens_decoder)
        elif token in vocab:
            ids.add(vocab[token])
        else:
            raise ConfigError(
                f"method.lora.trainable_tokens: '{token}' is not one token of this tokenizer "
                "(expected a token string such as '<think>', or 'all-special')"
            )
    return sorted(ids)


def check_method(
    model: PreTrainedModel, method: MethodConfig, tok: PreTrainedTokenizerBase | None
) -> None:
    """Every name in `method` resolves on this model and tokenizer (ConfigError otherwise).

    The loop calls this before it writes anything; `attach_method` resolves the same names.
    """
    if method.name == "lora":
        lora_targets(model, method)
        save_targets(model, method)
        token_ids(tok, method)


def attach_method(
    model: PreTrainedModel, method: MethodConfig, tok: PreTrainedTokenizerBase | None = None
) -> torch.nn.Module:
    """Return the model ready to train with `method`; only its trainable params require grad."""
    if method.name == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    lora = method.lora
    peft_cfg = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora_targets(model, method),
        modules_to_save=save_targets(model, method) or None,
        trainable_token_indices=_token_layers(model, token_ids(tok, method)),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_cfg)


def _token_layers(model: PreTrainedModel, ids: list[int]) -> dict[str, list[int]] | None:
    """Input embedding and (untied) output head, keyed by module name, for trainable tokens."""
    if not ids:
        return None
    names = {id(m): n.rsplit(".", 1)[-1] for n, m in model.named_modules()}
    layers = {names[id(model.get_input_embeddings())]: ids}
    head = model.get_output_embeddings()
    if head is not None and head.weight is not model.get_input_embeddings().weight:
        layers[names[id(head)]] = ids
    return layers


def trainable_summary(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable params, total params)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
