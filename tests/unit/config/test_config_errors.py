"""Every config error is a ConfigError whose message names the key, the place and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunesmith.config import config_from_dict, load_config
from tunesmith.errors import ConfigError, TunesmithError


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in tmp_path so messages show the short relative name `cfg.yaml`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_config_error_is_a_tunesmith_error_with_exit_code_2():
    assert issubclass(ConfigError, TunesmithError) and ConfigError.exit_code == 2


# unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train:\n  lrr: 1\n",
            "unknown config key 'train.lrr' (in cfg.yaml, line 2); did you mean 'train.lr'?",
        ),
        (
            "trian:\n  lr: 1\n",
            "unknown config key 'trian' (in cfg.yaml, line 1); did you mean 'train'?",
        ),
        (
            "method:\n  lora:\n    alhpa: 4\n",
            "unknown config key 'method.lora.alhpa' (in cfg.yaml, line 3); did you mean 'method.lora.alpha'?",
        ),
        # right key, wrong section: point at the section that has it
        (
            "train:\n  max_len: 4\n",
            "unknown config key 'train.max_len' (in cfg.yaml, line 2); did you mean 'data.max_len'?",
        ),
        ("lr: 1\n", "unknown config key 'lr' (in cfg.yaml, line 1); did you mean 'train.lr'?"),
        (
            "output:\n  zzz: 1\n",
            "unknown config key 'output.zzz' (in cfg.yaml, line 2); "
            "valid keys under 'output': dir, overwrite, tensorboard, report_to, project, plot",
        ),
        (
            "zzz: 1\n",
            "unknown config key 'zzz' (in cfg.yaml, line 1); "
            "valid keys: recipe, model, data, method, train, eval, distributed, output, distill, preference, grpo",
        ),
    ],
)
def test_unknown_key_in_yaml(in_tmp, text, message):
    assert error_of(write(in_tmp, text).name) == message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.lrr=1",
            "unknown config key 'train.lrr' (in override 'train.lrr=1'); did you mean 'train.lr'?",
        ),
        (
            "train.lr.x=1",
            "unknown config key 'train.lr.x' (in override 'train.lr.x=1'); "
            "'train.lr' is a setting, not a section",
        ),
        (
            "method.lora={alhpa: 2}",
            "unknown config key 'method.lora.alhpa' (in override 'method.lora={alhpa: 2}'); "
            "did you mean 'method.lora.alpha'?",
        ),
    ],
)
def test_unknown_key_in_override(override, message):
    assert error_of(None, [override]) == message


def test_unknown_key_in_dict():
    with pytest.raises(
        ConfigError, match=r"^unknown config key 'train\.lrr'; did you mean 'train\.lr'\?$"
    ):
        config_from_dict({"train": {"lrr": 1}})
    with pytest.raises(
        ConfigError, match=r"^unknown config key 'train\.lrr' \(in override 'train\.lrr'\)"
    ):
        load_config(None, {"train.lrr": 1})


def test_duplicate_key_in_yaml(in_tmp):
    path = write(in_tmp, "train:\n  lr: 1.0e-3\n  lr: 2.0e-3\n")
    assert error_of(path.name) == "duplicate config key 'train.lr' (in cfg.yaml, line 3)"


# wrong types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train:\n  lr: abc\n",
            "train.lr: expected a number, got 'abc' (str) (in cfg.yaml, line 2)",
        ),
        (
            "train:\n  lr: '1e-4'\n",
            "train.lr: expected a number, got '1e-4' (str) (in cfg.yaml, line 2)",
        ),
        (
            "train:\n  lr: true\n",
            "train.lr: expected a number, got True (bool) (in cfg.yaml, line 2)",
        ),
        ("train:\n  lr:\n", "train.lr: expected a number, got null (in cfg.yaml, line 2)"),
        (
            "train:\n  seed: 1.5\n",
            "train.seed: expected an integer, got 1.5 (float) (in cfg.yaml, line 2)",
        ),
        (
            "train:\n  seed: false\n",
            "train.seed: expected an integer, got False (bool) (in cfg.yaml, line 2)",
        ),
        (
            "train:\n  progress: 1\n",
            "train.progress: expected true or false, got 1 (int) (in cfg.yaml, line 2)",
        ),
        (
            "train:\n  progress: 'true'\n",
            "train.progress: expected true or false, got 'true' (str) (in cfg.yaml, line 2)",
        ),
        (
            "data:\n  train: {a: 1}\n",
            "data.train: expected a list of strings, got {'a': 1} (dict) (in cfg.yaml, line 2)",
        ),
        (
            "data:\n  train: [a.jsonl, 3]\n",
            "data.train[1]: expected a string, got 3 (int) (in cfg.yaml, line 2)",
        ),
        (
            "model:\n  name_or_path: [a]\n",
            "model.name_or_path: expected a string, got ['a'] (list) (in cfg.yaml, line 2)",
        ),
        (
            "model:\n  tokenizer: [a]\n",
            "model.tokenizer: expected a string or null, got ['a'] (list) (in cfg.yaml, line 2)",
        ),
    ],
)
def test_wrong_type_in_yaml(in_tmp, text, message):
    assert error_of(write(in_tmp, text).name) == message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.lr=abc",
            "train.lr: expected a number, got 'abc' (str) (in override 'train.lr=abc')",
        ),
        ("train.lr=", "train.lr: expected a number, got null (in override 'train.lr=')"),
        (
            "train.max_steps=2.5",
            "train.max_steps: expected an integer, got 2.5 (float) (in override 'train.max_steps=2.5')",
        ),
        (
            "data.packing=maybe",
            "data.packing: expected true or false, got 'maybe' (str) (in override 'data.packing=maybe')",
        ),
        (
            "data.train=[a, [b]]",
            "data.train[1]: expected a string, got ['b'] (list) (in override 'data.train=[a, [b]]')",
        ),
        ("train.lr=[1", "train.lr: expected a number, got '[1' (str) (in override 'train.lr=[1')"),
    ],
)
def test_wrong_type_in_override(override, message):
    assert error_of(None, [override]) == message


def test_wrong_type_in_dict_has_no_location():
    with pytest.raises(ConfigError) as info:
        config_from_dict({"train": {"lr": "abc"}})
    assert str(info.value) == "train.lr: expected a number, got 'abc' (str)"


# choices and bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "train.scheduler=cosin",
            "train.scheduler: 'cosin' is not one of cosine, linear, constant",
        ),
        ("model.dtype=fp8", "model.dtype: 'fp8' is not one of float32, bfloat16, float16"),
        ("train.lr=-1", "train.lr: must be > 0, got -1"),
        ("train.lr=0", "train.lr: must be > 0, got 0"),
        ("data.max_len=4", "data.max_len: must be >= 8, got 4"),
        ("data.val_split=0.7", "data.val_split: must be <= 0.5, got 0.7"),
        ("method.lora.r=0", "method.lora.r: must be >= 1, got 0"),
        ("method.lora.dropout=-0.1", "method.lora.dropout: must be >= 0, got -0.1"),
        ("train.adam_eps=0.0", "train.adam_eps: must be > 0, got 0"),
    ],
)
def test_choices_and_bounds_in_override(override, message):
    assert error_of(None, [override]) == f"{message} (in override '{override}')"


def test_choices_and_bounds_in_yaml(in_tmp):
    path = write(in_tmp, "train:\n  seed: 1\n  scheduler: cosin\n")
    assert error_of(path.name) == (
        "train.scheduler: 'cosin' is not one of cosine, linear, constant (in cfg.yaml, line 3)"
    )
    path = write(in_tmp, "train:\n  warmup_ratio: 1.5\n")
    assert error_of(path.name) == "train.warmup_ratio: must be <= 1, got 1.5 (in cfg.yaml, line 2)"


def test_bounds_are_inclusive():
    cfg = load_config(None, ["data.max_len=8", "data.val_split=0.5", "train.warmup_ratio=1"])
    assert (cfg.data.max_len, cfg.data.val_split, cfg.train.warmup_ratio) == (8, 0.5, 1.0)


# shape of the file, sections and overrides ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train: 5\n", "train: expected a mapping of settings, got 5 (int) (in cfg.yaml, line 1)"),
        (
            "method:\n  lora: [1, 2]\n",
            "method.lora: expected a mapping of settings, got [1, 2] (list) (in cfg.yaml, line 2)",
        ),
        (
            "- train\n- data\n",
            "cfg.yaml: expected a mapping of sections (recipe, model, data, method, train, eval, distributed, output, distill, preference, grpo), "
            "got ['train', 'data'] (list)",
        ),
        (
            "just text\n",
            "cfg.yaml: expected a mapping of sections (recipe, model, data, method, train, eval, distributed, output, distill, preference, grpo), "
            "got 'just text' (str)",
        ),
    ],
)
def test_wrong_shape_in_yaml(in_tmp, text, message):
    assert error_of(write(in_tmp, text).name) == message


def test_section_given_a_scalar_in_override():
    assert error_of(None, ["method.lora=5"]) == (
        "method.lora: expected a mapping of settings, got 5 (int) (in override 'method.lora=5')"
    )


@pytest.mark.parametrize("override", ["train.lr", "=1", "train..lr=1", ".lr=1", "train.=1"])
def test_malformed_override(override):
    assert error_of(None, [override]) == (
        f"malformed override {override!r}: expected key=value, e.g. train.lr=2e-4"
    )


def test_yaml_syntax_error_names_file_line_and_column(in_tmp):
    path = write(in_tmp, "train:\n  lr: 1\n  seed: [1, 2\n")
    assert error_of(path.name) == (
        "invalid YAML in cfg.yaml, line 4, column 1: while parsing a flow sequence, "
        "expected ',' or ']', but got '<stream end>' (the sequence starts at line 3)"
    )
    path = write(in_tmp, "train:\n  lr: 1\n bad: 2\n")
    assert re.match(r"^invalid YAML in cfg\.yaml, line 3, column \d+: ", error_of(path.name))


def test_missing_file_and_directory(in_tmp):
    assert error_of("nope.yaml") == "config file not found: nope.yaml"
    (in_tmp / "d").mkdir()
    assert error_of("d") == "config path is a directory, expected a YAML file: d"


def test_non_utf8_file(in_tmp):
    (in_tmp / "cfg.yaml").write_bytes(b"train:\n  resume: \xff\n")
    assert error_of("cfg.yaml").startswith("cannot read config file cfg.yaml: ")


def test_file_errors_come_before_overrides(in_tmp):
    path = write(in_tmp, "train:\n  lr: abc\n")
    assert error_of(path.name, ["train.lr=1"]).endswith("(in cfg.yaml, line 2)")


# cross-field checks ------------------------------------------------------------------------------


def test_val_split_with_validation_files_is_an_error():
    assert error_of(None, ["data.validation=[v.jsonl]", "data.val_split=0.1"]) == (
        "data.val_split=0.1 has no effect when data.validation is set; set one of them"
    )


@pytest.mark.parametrize("key", ["train.eval_every", "train.early_stopping_patience"])
def test_periodic_eval_needs_validation_data(key):
    assert error_of(None, [f"{key}=3"]) == (
        f"{key}=3 needs validation data: set data.validation or data.val_split"
    )
    assert load_config(None, [f"{key}=3", "data.val_split=0.1"])
    assert load_config(None, [f"{key}=3", "data.validation=v.jsonl"])


def test_empty_train_data_is_allowed_at_load():
    assert load_config(None).data.train == []
