"""The model to profile: a preset, a model directory, a run directory, or base + adapter.

Unlike `eval`, an adapter stays unmerged (its matmuls are part of the cost being measured),
and in train mode only the adapter's weights train, as in a LoRA run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tunesmith.config.schema import ModelConfig
from tunesmith.errors import ConfigError


def _adapter_dir(path: Path) -> Path | None:
    for candidate in (path / "adapter", path):
        if (candidate / "adapter_config.json").is_file():
            return candidate
    return None


def load_for_profile(
    model: str, adapter: str | None, *, dtype: str, trainable: bool
) -> torch.nn.Module:
    """The model in `dtype` on CPU; with `trainable`, gradients flow as in fine-tuning (all
    weights without an adapter, only the adapter's with one)."""
    from tunesmith.models.load import load_model_and_tokenizer

    path = Path(model)
    base_name = str(path / "model") if (path / "model").is_dir() else model  # a full-FT run
    adapter_path = _adapter_dir(path) if adapter is None and path.is_dir() else None
    if adapter_path is not None:  # a run or adapter directory: its base comes from the adapter
        from tunesmith.models.adapter_base import find_adapter_base

        base_name = find_adapter_base(adapter_path)
    if adapter is not None:
        adapter_path = _adapter_dir(Path(adapter))
        if adapter_path is None:
            raise ConfigError(
                f"--adapter: '{adapter}' has no adapter_config.json "
                "(expected a PEFT adapter directory such as RUN/adapter)"
            )
    try:
        base, _ = load_model_and_tokenizer(ModelConfig(name_or_path=base_name, dtype=dtype))
    except ConfigError as e:
        raise ConfigError(str(e).replace("model.name_or_path", "--model", 1)) from None
    if adapter_path is None:
        base.requires_grad_(trainable)
        return base
    from peft import PeftModel

    from tunesmith.models.mla_prefix import register_mla_prefix

    register_mla_prefix(base.config)
    return PeftModel.from_pretrained(base, adapter_path, is_trainable=trainable)
