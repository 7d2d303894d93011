"""Final outputs in Hugging Face formats: a PEFT adapter directory or a full model directory.

Under ZeRO-3 / FSDP each rank holds a shard; the full state dict is gathered (the engines'
own consolidation) and rank 0 writes one ordinary directory that plain transformers / peft
load.
"""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator
from peft import PeftModel
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tunesmith.adapters.peft_setup import ADAPTER_METHODS
from tunesmith.config.schema import Config
from tunesmith.models.adapter_base import base_path, base_reference, write_base_reference
from tunesmith.models.load import resolve_model_dir
from tunesmith.models.registry import PRESETS
from tunesmith.training.distributed import Ranks
from tunesmith.training.fsdp import full_state_dict


def adapter_base_dir(
    model: PreTrainedModel, tok: PreTrainedTokenizerBase, cfg: Config, run_dir: Path, ranks: Ranks
) -> str | None:
    """The base an adapter's `base_model_name_or_path` will name: a shipped preset's name
    (not a path into the installed package), or a model directory (models/adapter_base.py).

    Call before the method is attached. A PEFT run on a random-init preset has no base on
    disk, so its untouched initial weights are written to `base/` here (by rank 0).
    """
    if cfg.method.name not in ADAPTER_METHODS:
        return None
    base_dir = resolve_model_dir(cfg.model.name_or_path)
    if base_dir is not None and cfg.model.name_or_path in PRESETS:
        return cfg.model.name_or_path  # not a path into the installed package
    if base_dir is None:
        base_dir = run_dir / "base"
        if ranks.is_main and not (base_dir / "config.json").is_file():  # kept when resuming
            model.save_pretrained(base_dir)
            tok.save_pretrained(base_dir)
        ranks.barrier()
    return str(base_dir.resolve())


def save_final(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    run_dir: Path,
    base_dir: str | None,
    *,
    accelerator: Accelerator,
    ranks: Ranks,
    dest: Path | None = None,
) -> Path:
    """Write `adapter/` (PEFT, pointing at `base_dir`) or `model/` (full) with the tokenizer,
    or the same files into `dest` (the best checkpoint's `best/`).

    Every rank calls this (sharded strategies gather the weights collectively).
    """
    if ranks.strategy == "fsdp":
        state_dict = full_state_dict(model)
    elif ranks.sharded:
        state_dict = accelerator.get_state_dict(model)
    else:
        state_dict = None
    unwrapped = ranks.unwrap(model)
    out = dest or run_dir / ("adapter" if isinstance(unwrapped, PeftModel) else "model")
    if ranks.is_main:
        if isinstance(unwrapped, PeftModel):
            path = base_path(base_dir) if base_dir else None  # PEFT reads its config
            unwrapped.peft_config["default"].base_model_name_or_path = path
        unwrapped.save_pretrained(out, state_dict=state_dict)
        tok.save_pretrained(out)
        if isinstance(unwrapped, PeftModel) and base_dir:  # then the portable reference
            write_base_reference(out, base_reference(base_dir))
    ranks.barrier()
    return out
