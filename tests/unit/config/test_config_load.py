"""Loading configs: defaults, YAML merge, overrides and their value parsing, round trips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tunesmith.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_yaml,
    load_config,
    save_config,
)


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_no_file_no_overrides_gives_defaults():
    assert load_config(None) == Config()


@pytest.mark.parametrize("text", ["", "# only a comment\n", "train:\n"])
def test_empty_file_or_empty_section_gives_defaults(tmp_path, text):
    assert load_config(write(tmp_path, text)) == Config()


def test_yaml_merges_onto_defaults(tmp_path):
    path = write(
        tmp_path,
        "model:\n  name_or_path: tiny-qwen2\n"
        "data:\n  train: [a.jsonl, b.jsonl]\n  max_len: 256\n"
        "method:\n  lora:\n    r: 8\n"
        "train:\n  lr: 1e-4\n  epochs: 2\n",
    )
    cfg = load_config(path)
    assert cfg.model.name_or_path == "tiny-qwen2"
    assert cfg.data.train == ["a.jsonl", "b.jsonl"]
    assert cfg.data.max_len == 256
    assert cfg.method.lora.r == 8
    assert cfg.method.lora.alpha == 32.0  # untouched keys keep their defaults
    assert cfg.train.lr == 1e-4 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 2.0 and isinstance(cfg.train.epochs, float)
    assert cfg.train.scheduler == "cosine"


def test_overrides_apply_after_the_file(tmp_path):
    path = write(tmp_path, "train:\n  lr: 1.0e-3\n  seed: 1\n")
    cfg = load_config(path, ["train.lr=2e-4", "method.lora.r=32"])
    assert (cfg.train.lr, cfg.train.seed, cfg.method.lora.r) == (2e-4, 1, 32)


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("train.lr=2e-4", "train.lr", 2e-4),
        ("train.lr=1E-3", "train.lr", 1e-3),
        ("train.lr=3", "train.lr", 3.0),
        ("train.epochs=.5", "train.epochs", 0.5),
        ("train.max_steps=100", "train.max_steps", 100),
        ("train.max_steps=1e3", "train.max_steps", 1000),
        ("train.progress=false", "train.progress", False),
        ("train.progress=yes", "train.progress", True),
        ("data.train=[a.jsonl,b.jsonl]", "data.train", ["a.jsonl", "b.jsonl"]),
        ("data.train=[a.jsonl, b.jsonl]", "data.train", ["a.jsonl", "b.jsonl"]),
        ("data.train=only.jsonl", "data.train", ["only.jsonl"]),
        ("data.train=[]", "data.train", []),
        ("model.tokenizer=null", "model.tokenizer", None),
        ("model.tokenizer=tok/dir", "model.tokenizer", "tok/dir"),
        (
            "data.system_prompt=You are terse: answer briefly.",
            "data.system_prompt",
            "You are terse: answer briefly.",
        ),
        ("data.system_prompt=", "data.system_prompt", None),
        # string fields keep the text as typed, even where YAML would read a bool/number/date
        ("train.resume=no", "train.resume", "no"),
        ("model.name_or_path=123", "model.name_or_path", "123"),
        ("output.dir=2024-01-01", "output.dir", "2024-01-01"),
        ("output.dir=[oops", "output.dir", "[oops"),
        ("train.early_stopping_metric=eval_loss=x", "train.early_stopping_metric", "eval_loss=x"),
    ],
)
def test_override_value_parsing(override, key, expected):
    section, name = key.split(".")
    value = getattr(getattr(load_config(None, [override]), section), name)
    assert value == expected
    assert type(value) is type(expected)


def test_string_fields_in_yaml_keep_the_text(tmp_path):
    path = write(tmp_path, "train:\n  resume: no\nmodel:\n  name_or_path: 007\n")
    cfg = load_config(path)
    assert (cfg.train.resume, cfg.model.name_or_path) == ("no", "007")


def test_later_override_wins_and_sections_merge():
    cfg = load_config(None, ["train.lr=1e-3", "train.lr=5e-4", "method.lora={r: 4, alpha: 8}"])
    assert cfg.train.lr == 5e-4
    assert (cfg.method.lora.r, cfg.method.lora.alpha, cfg.method.lora.dropout) == (4, 8.0, 0.0)


def test_dict_overrides_take_typed_values():
    cfg = load_config(None, {"train.lr": 1e-3, "method.lora": {"r": 4}, "data": {"max_len": 64}})
    assert (cfg.train.lr, cfg.method.lora.r, cfg.data.max_len) == (1e-3, 4, 64)


def test_apply_overrides_does_not_mutate_its_input():
    base = Config()
    out = apply_overrides(base, ["train.lr=1e-3", "data.train=[x.jsonl]"])
    assert base == Config() and out.train.lr == 1e-3


def test_defaults_are_not_shared_between_configs():
    a, b = load_config(None, ["data.train=[a.jsonl]"]), load_config(None)
    assert b.data.train == [] and a.data.train == ["a.jsonl"]


def test_dotted_keys_in_yaml_and_dicts(tmp_path):
    assert load_config(write(tmp_path, "train.lr: 5e-5\n")).train.lr == 5e-5
    assert config_from_dict({"method.lora.r": 2}).method.lora.r == 2


def test_dict_round_trip():
    cfg = load_config(None, ["train.lr=3e-5", "data.train=[a.jsonl]", "method.lora.r=4"])
    d = config_to_dict(cfg)
    assert d["train"]["lr"] == 3e-5 and d["method"]["lora"]["r"] == 4
    assert config_from_dict(d) == cfg


def test_save_load_round_trip_is_exact(tmp_path):
    cfg = load_config(
        None,
        [
            "train.lr=1e-8",
            "train.adam_eps=1.5e-12",
            "train.resume=no",  # would be a bool if written unquoted
            "output.dir=1e-4",  # would be a float if written unquoted
            "data.system_prompt=null",
            "data.train=[a.jsonl, 'b c.jsonl']",
            "data.val_split=0.1",
            "method.lora.target_modules=[q_proj, v_proj]",
            "model.tokenizer=tök",
            "train.progress=false",
        ],
    )
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert path.exists()
    loaded = load_config(path)
    assert loaded == cfg
    assert config_to_yaml(loaded) == path.read_text(encoding="utf-8")
    assert loaded.output.dir == "1e-4" and loaded.train.resume == "no"


def test_every_schema_field_survives_the_round_trip(tmp_path):
    cfg = Config()
    assert load_config(save_config(cfg, tmp_path / "c.yaml")) == cfg
    names = {f.name for f in dataclasses.fields(Config)}
    assert set(config_to_dict(cfg)) == names


def test_apply_overrides_on_a_dict_returns_the_full_dict():
    out = apply_overrides({"train": {"lr": 1e-3}}, ["method.lora.r=4"])
    assert out == config_to_dict(load_config(None, ["train.lr=1e-3", "method.lora.r=4"]))
