"""LoRA-family PEFT configs: lora (+ rsLoRA), dora, qlora; and their checks."""

from __future__ import annotations

from peft import LoraConfig as PeftLoraConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.adapters.targets import LoraTargets, resolve_targets
from tunesmith.config.schema import MethodConfig
from tunesmith.errors import ConfigError

LORA_FAMILY = ("lora", "dora", "qlora")


def lora_targets(model: PreTrainedModel, method: MethodConfig) -> LoraTargets:
    """Module and parameter targets of `method.lora.target_modules` on this model."""
    targets = resolve_targets(model, method.lora.target_modules, modules_only=method.name == "dora")
    if targets.parameters and method.lora.dropout > 0:
        raise ConfigError(
            f"method.lora.dropout: {method.lora.dropout} is not supported with "
            f"{', '.join(sorted({p.rsplit('.', 2)[-2] for p in targets.parameters}))} on "
            f"{model.config.model_type} (adapted through their weight tensors, which PEFT "
            "trains without dropout); set method.lora.dropout=0, or restrict "
            "method.lora.target_modules to the attention projections"
        )
    return targets


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


def lora_config(
    model: PreTrainedModel, method: MethodConfig, tok: PreTrainedTokenizerBase | None
) -> PeftLoraConfig:
    lora = method.lora
    targets = lora_targets(model, method)
    return PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        use_rslora=lora.use_rslora,
        use_dora=method.name == "dora",
        target_modules=targets.modules or None,
        target_parameters=targets.parameters or None,
        modules_to_save=save_targets(model, method) or None,
        trainable_token_indices=_token_layers(model, token_ids(tok, method)),
        bias="none",
        task_type="CAUSAL_LM",
    )
