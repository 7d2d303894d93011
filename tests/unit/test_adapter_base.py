"""What an adapter records as its base, and how a recorded base is found again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunesmith.errors import ConfigError
from tunesmith.models.adapter_base import base_reference, find_adapter_base, try_adapter_base
from tunesmith.models.registry import PRESETS


def _model(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def test_reference_preset_name_else_absolute_path(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert base_reference("tiny-deepseek-v3-base") == "tiny-deepseek-v3-base"  # not site-packages
    assert base_reference("runs/x/base") == str(tmp_path.resolve() / "runs" / "x" / "base")


def test_found_from_the_adapter_not_the_current_directory(tmp_path, monkeypatch) -> None:
    base = _model(tmp_path / "run" / "base").resolve()
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir()
    monkeypatch.chdir(tmp_path)
    assert try_adapter_base(adapter, "../base") == str(base)
    assert try_adapter_base(adapter, "tiny-qwen2") == "tiny-qwen2"
    assert try_adapter_base(adapter, str(base)) == str(base)


def test_old_absolute_paths_after_a_move(tmp_path) -> None:
    base = _model(tmp_path / "moved" / "base").resolve()
    adapter = tmp_path / "moved" / "adapter"
    adapter.mkdir()
    assert try_adapter_base(adapter, "/home/someone/runs/lora/base") == str(base)
    shipped = f"/old/venv/site-packages/tunesmith/assets/models/{PRESETS['tiny-deepseek-v3-base'].shipped_dir}"
    assert try_adapter_base(adapter, shipped) == "tiny-deepseek-v3-base"
    assert try_adapter_base(adapter, "/old/somewhere/else") is None


def test_missing_base_error_names_it_and_the_ways(tmp_path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "/gone/qwen"}')
    with pytest.raises(ConfigError) as e:
        find_adapter_base(adapter, hint="pass --base PRESET_OR_DIR")
    assert str(e.value) == (
        f"{adapter}: the adapter's base model '/gone/qwen' (base_model_name_or_path in "
        "adapter_config.json) is not here: not a preset and no model at '/gone/qwen'; pass "
        f"--base PRESET_OR_DIR; or copy that model there, or set base_model_name_or_path in "
        f"{adapter}/adapter_config.json to a preset name or a model directory (absolute, or "
        "relative to the adapter directory)"
    )
