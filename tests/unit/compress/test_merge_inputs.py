"""Which adapter directories and outputs `export merge` accepts, before loading any model."""

from __future__ import annotations

import json

import pytest

from tunesmith.compress.merge import check_base, find_adapter
from tunesmith.compress.report import dir_size
from tunesmith.errors import ConfigError
from tunesmith.output_dir import check_output_dir


def adapter_dir(path, **config):
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps(config))
    return path


def test_a_run_directory_resolves_to_its_adapter(tmp_path):
    adapter_dir(tmp_path / "run" / "adapter", peft_type="LORA", base_model_name_or_path="b")
    path, config = find_adapter(tmp_path / "run")
    assert path == tmp_path / "run" / "adapter" and config["base_model_name_or_path"] == "b"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("PREFIX_TUNING", "cannot be folded into them"),
        ("IA3", "only LoRA and DoRA adapters can be merged"),
    ],
)
def test_adapters_other_than_lora_are_refused(tmp_path, kind, message):
    adapter_dir(tmp_path / "a", peft_type=kind)
    with pytest.raises(ConfigError, match=f"is a {kind} adapter: .*{message}"):
        find_adapter(tmp_path / "a")


def test_a_full_fine_tune_has_nothing_to_merge(tmp_path):
    (tmp_path / "run" / "model").mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a full fine-tune; there is no adapter to merge"):
        find_adapter(tmp_path / "run")


def test_missing_adapter_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="is not a directory"):
        find_adapter(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "adapter_config.json").write_text("{")
    with pytest.raises(ConfigError, match="adapter_config.json: not valid JSON"):
        find_adapter(tmp_path / "a")


def test_output_may_not_hold_an_input(tmp_path):
    src = tmp_path / "run" / "adapter"
    src.mkdir(parents=True)
    for out in (src, tmp_path / "run", tmp_path):
        with pytest.raises(ConfigError, match="holds the input"):
            check_output_dir(out, overwrite=True, sources=[src])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        check_output_dir(tmp_path / "file", overwrite=True, sources=[src])
    check_output_dir(tmp_path / "new", overwrite=False, sources=[src])


def test_unknown_base_names_the_flag(tmp_path):
    with pytest.raises(ConfigError, match="^--base: 'nowhere' is neither a preset"):
        check_base("nowhere", None, tmp_path)


def test_dir_size_counts_nested_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "a").write_bytes(b"123")
    (tmp_path / "d" / "b").write_bytes(b"45")
    assert dir_size(tmp_path) == 5
