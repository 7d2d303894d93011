"""Tiny models (fp32, CPU) and prompts for the engine tests."""

from __future__ import annotations

import torch

from tunesmith.config.schema import ModelConfig
from tunesmith.models.load import load_model_and_tokenizer

ARCHS = ("tiny-deepseek-v3", "tiny-qwen2", "tiny-llama")

_MODELS: dict[str, torch.nn.Module] = {}


def tiny_model(name: str) -> torch.nn.Module:
    """A preset in fp32 eval mode (random presets: seed 0), loaded once per session."""
    if name not in _MODELS:
        model, _ = load_model_and_tokenizer(ModelConfig(name_or_path=name), seed=0)
        _MODELS[name] = model.eval()
    return _MODELS[name]


def random_prompts(n: int, seed: int, low: int = 3, high: int = 40) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(low, high, (n,), generator=g).tolist()
    return [torch.randint(8, 4000, (k,), generator=g).tolist() for k in lengths]


def hf_greedy(model: torch.nn.Module, prompt: list[int], max_new_tokens: int) -> list[int]:
    """Reference: transformers' own generate, greedy, no eos."""
    out = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=2,
    )
    return out[0, len(prompt) :].tolist()
