"""Test helpers shared across test modules (import as `from helpers import ...`)."""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.data.formats import from_messages
from tunesmith.data.tag_task import chat_dataset
from tunesmith.tokenize.masking import encode_conversation
from tunesmith.tokenize.packing import Sample


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_config(
    model: str, method: str, train_file: Path, out: Path, **train_overrides: object
) -> dict:
    """A small, fast, deterministic training config as a dict."""
    return {
        "model": {"name_or_path": model},
        "data": {"train": [str(train_file)], "max_len": 128},
        "method": {"name": method, "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        "train": {
            "max_steps": 6,
            "batch_tokens": 512,
            "lr": 3e-3,
            "scheduler": "constant",
            "seed": 0,
            "progress": False,
            **train_overrides,
        },
        "output": {"dir": str(out), "tensorboard": False, "plot": False},
    }


def encoded_samples(tok, n: int = 6) -> list[Sample]:
    train, _ = chat_dataset(3 * n, 0, seed=7)
    # 1, 2 or 3 turns per conversation, so samples differ in length
    convs = []
    for i in range(n):
        turns = train[3 * i : 3 * i + 1 + i % 3]
        convs.append(from_messages({"messages": [m for r in turns for m in r["messages"]]}))
    out = []
    for conv in convs:
        enc = encode_conversation(tok, conv, max_len=128, train_on_prompt=False, truncation="right")
        out.append(Sample.from_labels(enc.input_ids, enc.labels))
    return out


def gguf_sources(root: Path) -> dict[str, str]:
    """model_type -> a model directory for each GGUF architecture: random-init tiny Llama and
    Qwen2 (seed 0, shipped tokenizer) saved under `root`, and the shipped DeepSeek-V3 base."""
    import torch
    from transformers import AutoModelForCausalLM

    from tunesmith.models.registry import PRESETS
    from tunesmith.tokenize.templates import load_tokenizer

    out = {"deepseek_v3": "tiny-deepseek-v3-base"}
    for name in ("tiny-llama", "tiny-qwen2"):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(PRESETS[name].config())
        model.save_pretrained(root / name)
        load_tokenizer().save_pretrained(root / name)
        out[model.config.model_type] = str(root / name)
    return out
