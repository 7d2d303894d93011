"""Command settings from one schema: YAML + dotted overrides + flags, validated once, errors
naming the file line / override / flag, did-you-mean for every command, UI field listing."""

from __future__ import annotations

import pytest

from tunesmith.cli.main import build_parser, main
from tunesmith.config.commands import SCHEMAS, EvalRunSettings
from tunesmith.config.settings import describe_fields, settings_from_args


def parse(argv: list[str]):
    return settings_from_args(build_parser().parse_args(argv))


def test_yaml_then_overrides_then_flags(tmp_path):
    cfg = tmp_path / "e.yaml"
    cfg.write_text("model: tiny-qwen2\ndata: [a.jsonl]\nmax_new_tokens: 8\nbatch_size: 4\n")
    s = parse(["eval", "run", str(cfg), "max_new_tokens=16", "--batch-size", "2"])
    assert (s.model, s.data, s.max_new_tokens, s.batch_size) == ("tiny-qwen2", ["a.jsonl"], 16, 2)
    assert s.metrics == "em" and s.format == "auto"  # defaults from the schema
    # flags alone, as before
    s = parse(["eval", "run", "--model", "m", "--data", "x.jsonl", "y.jsonl", "--score-reasoning"])
    assert (s.model, s.data, s.score_reasoning) == ("m", ["x.jsonl", "y.jsonl"], True)
    # overrides without a CONFIG
    s = parse(["eval", "score", "input=p.jsonl", "allow_empty=true"])
    assert (s.input, s.allow_empty) == ("p.jsonl", True)


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        (
            ["train"],
            "train:\n  max_step: 3\n",
            "unknown config key 'train.max_step' (in c.yaml, line 2); did you mean "
            "'train.max_steps'?",
        ),
        (
            ["eval", "run"],
            "model: m\nmax_new_token: 3\n",
            "unknown config key 'max_new_token' (in c.yaml, line 2); did you mean "
            "'max_new_tokens'?",
        ),
        (
            ["eval", "score"],
            "input: p.jsonl\nallow_emtpy: true\n",
            "unknown config key 'allow_emtpy' (in c.yaml, line 2); did you mean 'allow_empty'?",
        ),
    ],
)
def test_misspelled_key_gets_did_you_mean(tmp_path, monkeypatch, capsys, command, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(text)
    assert main([*command, "c.yaml"]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["eval", "run", "--model", "m", "--data", "d", "--max-new-tokens", "0"],
            "--max-new-tokens: must be >= 1, got 0",
        ),
        (
            ["eval", "run", "--model", "m", "--data", "d", "--format", "csv"],
            "--format: 'csv' is not one of auto, messages, sharegpt, alpaca, cqa, text",
        ),
        (["eval", "run", "--data", "d"], "--model: required (or `model:` in CONFIG)"),
        (
            ["eval", "run", "batch_size=x", "--model", "m", "--data", "d"],
            "batch_size: expected an integer, got 'x' (str) (in override 'batch_size=x')",
        ),
    ],
)
def test_errors_name_the_flag_or_key_the_user_typed(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_fields_are_listed_for_generated_forms():
    fields = {f["key"]: f for f in describe_fields(EvalRunSettings)}
    assert fields["max_new_tokens"] == {
        "key": "max_new_tokens",
        "flag": "--max-new-tokens",
        "type": "int",
        "default": 64,
        "help": "tokens generated per answer at most",
        "choices": None,
        "min": 1,
        "max": None,
        "gt": None,
        "required": False,
    }
    assert fields["format"]["choices"][0] == "auto" and fields["model"]["required"]
    train = {f["key"]: f for f in describe_fields(SCHEMAS["train"])}
    assert train["recipe"]["choices"] == ["sft", "distill", "preference", "grpo"]
    assert train["train.lr"]["gt"] == 0.0 and train["train.lr"]["flag"] == "--train-lr"
