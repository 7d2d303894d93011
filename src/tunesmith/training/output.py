"""Final outputs in Hugging Face formats: a PEFT adapter directory or a full model directory."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.models.load import resolve_model_dir


def adapter_base_dir(
    model: PreTrainedModel, tok: PreTrainedTokenizerBase, cfg: Config, run_dir: Path
) -> Path | None:
    """The directory an adapter's `base_model_name_or_path` will point at.

    Call before the method is attached. A LoRA run on a random-init preset has no base on
    disk, so its untouched initial weights are written to `base/` here.
    """
    if cfg.method.name == "full":
        return None
    base_dir = resolve_model_dir(cfg.model.name_or_path)
    if base_dir is None:
        base_dir = run_dir / "base"
        if not (base_dir / "config.json").is_file():  # kept as is when resuming
            model.save_pretrained(base_dir)
            tok.save_pretrained(base_dir)
    return base_dir.resolve()


def save_final(
    model: torch.nn.Module, tok: PreTrainedTokenizerBase, run_dir: Path, base_dir: Path | None
) -> Path:
    """Write `adapter/` (LoRA, pointing at `base_dir`) or `model/` (full) with the tokenizer."""
    if isinstance(model, PeftModel):
        model.peft_config["default"].base_model_name_or_path = str(base_dir)
        out = run_dir / "adapter"
    else:
        out = run_dir / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
