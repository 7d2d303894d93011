"""Load a causal LM and its tokenizer: a preset name or a local Hugging Face directory."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.config.schema import ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.models import attention  # noqa: F401  (registers tunesmith_varlen)
from tunesmith.models.registry import PRESETS
from tunesmith.tokenize.templates import load_tokenizer

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_model_dir(name_or_path: str) -> Path | None:
    """Directory holding the weights, or None for a random-init preset. Errors name the field."""
    preset = PRESETS.get(name_or_path)
    if preset is not None:
        return preset.path()
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
    return (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()


def load_model_and_tokenizer(
    cfg: ModelConfig, seed: int = 0
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Build or load the model (on CPU) and the tokenizer that goes with it."""
    dtype = DTYPES[cfg.dtype]
    model_dir = resolve_model_dir(cfg.name_or_path)
    if model_dir is None:
        torch.manual_seed(seed)
        config = PRESETS[cfg.name_or_path].config()
        model = AutoModelForCausalLM.from_config(
            config, dtype=dtype, attn_implementation=cfg.attn_implementation
        )
    else:
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
    return model, load_tokenizer(tok_dir)
