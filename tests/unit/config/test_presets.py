"""Every preset under configs/ is a valid config; tiny presets name a built-in model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.config import load_config

ROOT = Path(__file__).resolve().parents[3]
PRESETS = sorted((ROOT / "configs").glob("*/*.yaml"))
TRAIN_PRESETS = [p for p in PRESETS if p.parent.name != "data"]
TINY = {"tiny-deepseek-v3", "tiny-deepseek-v3-base", "tiny-qwen2", "tiny-llama"}


def test_expected_presets_exist() -> None:
    names = {f"{p.parent.name}/{p.stem}" for p in TRAIN_PRESETS}
    for model in ("tiny-deepseek-v3", "tiny-qwen2", "tiny-llama"):
        assert {f"{model}/lora", f"{model}/full"} <= names
    for model in (
        "deepseek-r1-distill-qwen-1.5b",
        "deepseek-r1-distill-qwen-7b",
        "deepseek-r1-distill-llama-8b",
        "deepseek-v2-lite",
    ):
        assert f"{model}/lora" in names
    for model in TINY | {"deepseek-r1-distill-qwen-1.5b", "deepseek-r1-distill-qwen-7b",
                         "deepseek-r1-distill-llama-8b"}:  # fmt: skip
        assert {f"{model}/dpo", f"{model}/orpo", f"{model}/kto"} <= names


@pytest.mark.parametrize("path", TRAIN_PRESETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_loads(path: Path) -> None:
    cfg = load_config(path)
    assert path.read_text().count("\nrecipe: ") == 1  # every preset names its recipe
    recipe = {"distill": "distill", "dpo": "preference", "orpo": "preference", "kto": "preference",
              "grpo": "grpo"}  # fmt: skip
    assert cfg.recipe == recipe.get(path.stem, "sft")
    if cfg.recipe == "preference":
        assert (cfg.method.name, cfg.preference.loss) == ("lora", path.stem)
    elif cfg.recipe == "grpo":
        assert cfg.method.name == "lora" and cfg.grpo.rewards == ["think_format", "accuracy"]
    else:
        assert cfg.method.name == ("full" if path.stem == "distill" else path.stem.split("-")[0])
    assert path.read_text().splitlines()[1].startswith("# Run") or "tunesmith train" in (
        path.read_text()
    )
    if path.parent.name in TINY:
        assert cfg.model.name_or_path == path.parent.name
        assert all((ROOT / f).is_file() for f in cfg.data.train + cfg.data.validation)
    else:
        assert cfg.model.name_or_path.startswith("models/")
        assert cfg.train.precision == "bf16" and cfg.train.gradient_checkpointing
