"""Load a causal LM and its tokenizer: a preset name or a local Hugging Face directory."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.config.schema import ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.log import quiet_libraries
from tunesmith.models import attention  # noqa: F401  (registers tunesmith_varlen)
from tunesmith.models.quantize_load import prepare_quantized
from tunesmith.models.registry import PRESETS
from tunesmith.tokenize.templates import load_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_dir(name_or_path: str) -> Path | None:
    """Directory holding the weights, or None for a random-init preset. Errors name the field."""
    preset = PRESETS.get(name_or_path)
    if preset is not None:
        path = preset.path()
        if path is not None and not (path / "config.json").is_file():
            raise ConfigError(
                f"model.name_or_path: the shipped preset '{name_or_path}' is missing from "
                f"'{path}'; rebuild it with scripts/build_tiny_base.py or reinstall tunesmith"
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"model.name_or_path: '{name_or_path}' is neither a preset "
            f"({', '.join(sorted(PRESETS))}) nor an existing directory"
        )
    if not (path / "config.json").is_file():
        raise ConfigError(
            f"model.name_or_path: '{path}' has no config.json (expected a Hugging Face model directory)"
        )
    return path


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer.json").is_file()


def load_model_and_tokenizer(
    cfg: ModelConfig, seed: int = 0, quantize: object | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Build or load the model (on CPU; on this process's GPU when `quantize`, a
    transformers BitsAndBytesConfig, asks for a 4-bit base) and its tokenizer."""
    dtype = DTYPES[cfg.dtype]
    model_dir = resolve_model_dir(cfg.name_or_path)  # bad input fails before any other line
    quiet_libraries()
    if quantize is not None and model_dir is None:
        raise ConfigError(
            f"model.name_or_path: qlora quantizes pretrained weights; '{cfg.name_or_path}' "
            "is a random-init preset (use a model directory or tiny-deepseek-v3-base)"
        )
    if quantize is not None:
        import os

        model = AutoModelForCausalLM.from_pretrained(
            model_dir,
            dtype=dtype,
            local_files_only=True,
            attn_implementation=cfg.attn_implementation,
            quantization_config=quantize,
            device_map={"": int(os.environ.get("LOCAL_RANK", "0"))},
        )
    elif model_dir is None:
        torch.manual_seed(seed)
        config = PRESETS[cfg.name_or_path].config()
        model = AutoModelForCausalLM.from_config(
            config, dtype=dtype, attn_implementation=cfg.attn_implementation
        )
    else:
        prepare_quantized(model_dir)  # an export quantize dir: its library and hardware
        model = AutoModelForCausalLM.from_pretrained(
            model_dir,
            dtype=dtype,
            local_files_only=True,
            attn_implementation=cfg.attn_implementation,
        )
    if cfg.tokenizer is not None:
        tok_dir: Path | None = Path(cfg.tokenizer)
        if not tok_dir.is_dir():
            raise ConfigError(f"model.tokenizer: '{cfg.tokenizer}' is not a directory")
    else:
        tok_dir = model_dir if model_dir is not None and _has_tokenizer(model_dir) else None
    tok = load_tokenizer(tok_dir)
    check_vocab(model, tok, tok_dir)
    return model, tok


def check_vocab(model: PreTrainedModel, tok: PreTrainedTokenizerBase, tok_dir: Path | None) -> None:
    """Every token id the tokenizer can produce must have an embedding row."""
    rows = model.get_input_embeddings().num_embeddings
    if len(tok) > rows:
        where = str(tok_dir) if tok_dir is not None else "the shipped tokenizer"
        raise ConfigError(
            f"model.tokenizer: {where} has {len(tok)} tokens but the model has {rows} "
            "embedding rows; set model.tokenizer to the tokenizer trained with this model"
        )


def load_trained(
    path: str | Path, dtype: str = "float32", attn_implementation: str = "tunesmith_varlen"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a training output: a run directory, its `adapter/`, or a full model directory.

    An adapter is applied to the base named in its `adapter_config.json`
    (`base_model_name_or_path`: a preset, or a path relative to the adapter or absolute);
    the tokenizer is the one saved beside the weights.
    """
    path = Path(path)
    if (path / "adapter").is_dir():
        path = path / "adapter"
    elif (path / "model").is_dir():
        path = path / "model"
    cfg = ModelConfig(name_or_path=str(path), dtype=dtype, attn_implementation=attn_implementation)
    if not (path / "adapter_config.json").is_file():
        return load_model_and_tokenizer(cfg)
    from peft import PeftModel

    from tunesmith.models.adapter_base import find_adapter_base
    from tunesmith.models.mla_prefix import register_mla_prefix

    base_name = find_adapter_base(path)  # wherever the run now lives (models/adapter_base)
    base, _ = load_model_and_tokenizer(
        ModelConfig(name_or_path=base_name, dtype=dtype, attn_implementation=attn_implementation)
    )
    register_mla_prefix(base.config)  # a prefix adapter on MLA needs the cache layout
    return PeftModel.from_pretrained(base, path), load_tokenizer(path)
