"""Final outputs in Hugging Face formats: a PEFT adapter directory or a full model directory."""

from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from transformers import PreTrainedTokenizerBase

from tunesmith.config.schema import Config
from tunesmith.models.load import resolve_model_dir


def save_final(
    model: torch.nn.Module, tok: PreTrainedTokenizerBase, cfg: Config, run_dir: Path
) -> Path:
    """Write `adapter/` (LoRA) or `model/` (full), each with the tokenizer; return it.

    A LoRA run on a random-init preset also writes `base/`, so the adapter has a base on disk.
    The adapter's `base_model_name_or_path` points at the base directory.
    """
    if isinstance(model, PeftModel):
        base_dir = resolve_model_dir(cfg.model.name_or_path)
        if base_dir is None:
            base_dir = run_dir / "base"
            model.get_base_model().save_pretrained(base_dir)
            tok.save_pretrained(base_dir)
        model.peft_config["default"].base_model_name_or_path = str(base_dir.resolve())
        out = run_dir / "adapter"
        model.save_pretrained(out)
    else:
        out = run_dir / "model"
        model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
