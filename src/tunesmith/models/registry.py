"""Explicit preset name -> how to build it. `tunesmith models` lists these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from transformers import PretrainedConfig

from tunesmith.models.tiny import tiny_deepseek_v3_config, tiny_llama_config, tiny_qwen2_config


@dataclass(frozen=True)
class Preset:
    """A model preset: random init from a config, or a shipped pretrained directory."""

    description: str
    config: Callable[[], PretrainedConfig] | None = None
    shipped_dir: str | None = None  # directory name under tunesmith/assets/models

    def path(self) -> Path | None:
        if self.shipped_dir is None:
            return None
        return Path(str(resources.files("tunesmith") / "assets" / "models" / self.shipped_dir))


PRESETS: dict[str, Preset] = {
    "tiny-deepseek-v3": Preset(
        "random-init DeepSeek-V3 architecture (MLA + MoE), 4 layers, 4 experts",
        config=tiny_deepseek_v3_config,
    ),
    "tiny-qwen2": Preset("random-init Qwen2 architecture, 2 layers", config=tiny_qwen2_config),
    "tiny-llama": Preset("random-init Llama architecture, 2 layers", config=tiny_llama_config),
    "tiny-deepseek-v3-base": Preset(
        "the shipped pretrained tiny DeepSeek-V3 base (scripts/build_tiny_base.py)",
        shipped_dir="tiny-deepseek-v3-base",
    ),
}
