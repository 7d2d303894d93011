"""`format_help()`: every key, grouped by section, with type, default, constraints and help."""

from __future__ import annotations

import dataclasses
import typing

from tunesmith.config import Config, format_help


def leaf_keys(cls: type = Config, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out += leaf_keys(hints[f.name], key)
        else:
            out.append(key)
    return out


def test_every_field_has_one_line_with_its_help():
    text = format_help()
    lines = text.splitlines()
    for key in leaf_keys():
        (line,) = [ln for ln in lines if ln.split()[:1] == [key]]
        section, _, name = key.rpartition(".")
        cls = Config
        for part in filter(None, section.split(".")):
            cls = typing.get_type_hints(cls)[part]
        field = {f.name: f for f in dataclasses.fields(cls)}[name]
        assert line.rstrip().endswith(field.metadata["help"].strip())


def test_lines_show_type_default_and_constraints():
    lines = {ln.split()[0]: ln for ln in format_help().splitlines() if ln.startswith("  ")}
    assert "(float, default 0.0002, > 0)  peak learning rate" in lines["train.lr"]
    assert "(str, default cosine, one of: cosine|linear|constant)" in lines["train.scheduler"]
    assert "(float, default 0, >= 0, <= 0.5)" in lines["data.val_split"]
    assert "(str | null, default null)" in lines["model.tokenizer"]
    assert "(list[str], default [all-linear])" in lines["method.lora.target_modules"]
    assert "(bool, default true)" in lines["train.progress"]


def test_grouped_by_section_in_schema_order():
    text = format_help()
    headers = [ln.split(":")[0] for ln in text.splitlines() if ln and not ln.startswith(" ")]
    assert headers[-14:] == [
        "model",
        "data",
        "method",
        "method.lora",
        "method.qlora",
        "method.prefix",
        "method.freeze",
        "train",
        "eval",
        "distributed",
        "output",
        "distill",
        "preference",
        "grpo",
    ]
    assert "train: optimisation loop" in text.splitlines()


def test_works_for_a_single_section():
    from tunesmith.config import LoraConfig

    text = format_help(LoraConfig)
    assert "  r " in text and "target_modules" in text and "train.epochs" not in text
