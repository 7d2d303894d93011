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
