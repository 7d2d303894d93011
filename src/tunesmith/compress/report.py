"""What every export writes beside its model: size on disk, parameters, a logit check."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

REPORT_NAME = "export_report.json"
# Fixed probe prompts: the merged model must give the adapter model's logits on these.
PROMPTS = (
    "Hello! Who are you?",
    "What is 17 + 25? Answer with a number.",
    "def fibonacci(n):",
)


def dir_size(path: Path) -> int:
    """Bytes of every file under `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def probe_logits(model: torch.nn.Module, tok: PreTrainedTokenizerBase) -> list[torch.Tensor]:
    """fp32 logits of each probe prompt (one sequence per pass: no padding in the way)."""
    model.eval()
    out = []
    for text in PROMPTS:
        ids = torch.tensor([tok(text)["input_ids"]])
        out.append(model(input_ids=ids).logits.float())
    return out


def max_abs_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def write_report(output: Path, report: dict) -> Path:
    path = output / REPORT_NAME
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def source_model_dir(model: str | Path, verb: str) -> Path:
    """The float Hugging Face model directory an export reads (`--model`): a preset with
    weights, a model directory, or a full fine-tune's run directory (its `model/`). Adapter
    runs, random-init presets and quantized models are refused; `verb` names the export."""
    from tunesmith.errors import ConfigError
    from tunesmith.models.load import resolve_model_dir
    from tunesmith.models.quantize_load import quantization_method
    from tunesmith.models.registry import PRESETS

    model = str(model)
    path = Path(model).expanduser()
    if model not in PRESETS and path.is_dir() and not (path / "config.json").is_file():
        if (path / "model" / "config.json").is_file():
            path = path / "model"
        elif (path / "adapter").is_dir() or (path / "adapter_config.json").is_file():
            raise ConfigError(
                f"--model: '{model}' is a LoRA adapter run; merge it into its base first "
                f"(tunesmith export merge --adapter {model} --output MERGED) and {verb} MERGED"
            )
    try:
        found = resolve_model_dir(str(path) if model not in PRESETS else model)
    except ConfigError as e:
        raise ConfigError(str(e).replace("model.name_or_path", "--model", 1)) from None
    if found is None:
        raise ConfigError(
            f"--model: '{model}' is a random-init preset with no weights to {verb} "
            "(give a model directory, a run directory or tiny-deepseek-v3-base)"
        )
    method = quantization_method(found)
    if method is not None:
        raise ConfigError(
            f"--model: '{found}' is already quantized ({method}, quantization_config in "
            f"{found / 'config.json'}); {verb} the float model it came from"
        )
    return found
