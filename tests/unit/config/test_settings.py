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
        (
            ["data", "prepare"],
            "input:\n  paths: [a.jsonl]\n  formt: auto\n",
            "unknown config key 'input.formt' (in c.yaml, line 3); did you mean 'input.format'?",
        ),
        (
            ["export", "merge"],
            "adapter: runs/a\ndtpye: float16\n",
            "unknown config key 'dtpye' (in c.yaml, line 2); did you mean 'dtype'?",
        ),
        (
            ["export", "prune"],
            "mode: unstructured\nsparsty: 0.5\n",
            "unknown config key 'sparsty' (in c.yaml, line 2); did you mean 'sparsity'?",
        ),
        (
            ["export", "quantize"],
            "scheme: int8-weight-only\ngroup_sise: 64\n",
            "unknown config key 'group_sise' (in c.yaml, line 2); did you mean 'group_size'?",
        ),
        (
            ["export", "gguf"],
            "model: m\nouttyp: q8_0\n",
            "unknown config key 'outtyp' (in c.yaml, line 2); did you mean 'outtype'?",
        ),
        (
            ["export", "report"],
            "dirs: [a]\nmax_sample: 3\n",
            "unknown config key 'max_sample' (in c.yaml, line 2); did you mean 'max_samples'?",
        ),
        (
            ["serve"],
            "model: tiny-qwen2\nmax_batchh: 4\n",
            "unknown config key 'max_batchh' (in c.yaml, line 2); did you mean 'max_batch'?",
        ),
        (
            ["chat"],
            "model: tiny-qwen2\ntemprature: 0.5\n",
            "unknown config key 'temprature' (in c.yaml, line 2); did you mean 'temperature'?",
        ),
        (
            ["generate"],
            "model: tiny-qwen2\nmax_token: 8\n",
            "unknown config key 'max_token' (in c.yaml, line 2); did you mean 'max_tokens'?",
        ),
        (
            ["deploy", "docker"],
            "model: tiny-qwen2\nvarient: cuda\n",
            "unknown config key 'varient' (in c.yaml, line 2); did you mean 'variant'?",
        ),
        (
            ["deploy", "k8s"],
            "model_uri: pvc://m\nmin_replica: 1\n",
            "unknown config key 'min_replica' (in c.yaml, line 2); did you mean 'min_replicas'?",
        ),
        (["bench", "train"], "model: tiny-qwen2\nbudget_token: 9\n", "unknown config key 'budget_token' (in c.yaml, line 2); did you mean 'budget_tokens'?"),
        (["bench", "data"], "docs: 9\nproceses: 2\n", "unknown config key 'proceses' (in c.yaml, line 2); did you mean 'processes'?"),
        (["bench", "memory"], "shape: v2-lite\nseqs: [512]\n", "unknown config key 'seqs' (in c.yaml, line 2); did you mean 'seq'?"),
        (["bench", "preference"], "json: b.json\nbudget_tokns: 9\n", "unknown config key 'budget_tokns' (in c.yaml, line 2); did you mean 'budget_tokens'?"),
        (["bench", "rl"], "steps: 2\nmax_token: 8\n", "unknown config key 'max_token' (in c.yaml, line 2); did you mean 'max_tokens'?"),
        (["bench", "serve"], "model: tiny-qwen2\nconcurency: [1]\n", "unknown config key 'concurency' (in c.yaml, line 2); did you mean 'concurrency'?"),
        (["data", "inspect"], "files: [a.jsonl]\nmax_lenn: 9\n", "unknown config key 'max_lenn' (in c.yaml, line 2); did you mean 'max_len'?"),
        (["eval", "compare"], "runs: [a]\noutptu: o\n", "unknown config key 'outptu' (in c.yaml, line 2); did you mean 'output'?"),
        (["profile"], "model: tiny-llama\nbatchsize: 2\n", "unknown config key 'batchsize' (in c.yaml, line 2); did you mean 'batch_size'?"),
        (["demo"], "outptu: runs/d\n", "unknown config key 'outptu' (in c.yaml, line 1); did you mean 'output'?"),
        (["ui"], "host: 127.0.0.1\nrun: runs\n", "unknown config key 'run' (in c.yaml, line 2); did you mean 'runs'?"),
    ],
)  # fmt: skip
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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["export", "prune", "--model", "m", "--output", "o", "--mode", "structured"],
            "--mode structured needs ffn_ratio and/or head_ratio above 0",
        ),
        (
            ["export", "prune", "mode=unstructured", "sparsity=0.5", "--scope", "all"],
            "--scope: 'all' is not one of layer, global",
        ),
        (
            ["export", "prune", "mode=structured", "head_ratio=0.5", "--scope", "global"],
            "--scope applies to mode unstructured only",
        ),
        (["export", "prune", "mode=unstructured", "sparsity=0.5"], "--model: required (or `model:` in CONFIG)"),
        (["export", "report", "--reuse"], "DIR: required (or `dirs:` in CONFIG)"),
        (["serve", "--model", "m", "--port", "70000"], "--port: must be <= 65535, got 70000"),
        (["serve", "--model", "m", "max_batch=0"], "max_batch: must be >= 1, got 0 (in override 'max_batch=0')"),
        (["chat", "--model", "m", "--top-p", "0"], "--top-p: must be > 0, got 0"),
        (["generate", "--model", "m", "--output", "o.jsonl"], "--input: required (or `input:` in CONFIG)"),
    ],
)  # fmt: skip
def test_rules_of_the_other_commands_name_what_the_user_typed(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_export_report_takes_a_config_overrides_and_directories(tmp_path):
    cfg = tmp_path / "r.yaml"
    cfg.write_text("output: out\nmax_samples: 5\n")
    s = parse(["export", "report", str(cfg), "metrics=f1", "a", "b", "--reuse"])
    assert (s.dirs, s.output, s.max_samples, s.metrics, s.reuse) == (
        ["a", "b"],
        "out",
        5,
        "f1",
        True,
    )
    cfg.write_text("dirs: [x, y]\n")
    assert parse(["export", "report", str(cfg), "--remeasure"]).dirs == ["x", "y"]


def test_serve_flags_are_shortcuts_for_the_same_settings(tmp_path):
    cfg = tmp_path / "s.yaml"
    cfg.write_text("model: tiny-qwen2\nport: 9000\nadapter: [a=runs/a]\n")
    s = parse(["serve", str(cfg), "max_batch=4", "--adapter", "b=runs/b", "--adapter", "c=runs/c"])
    assert (s.model, s.port, s.max_batch) == ("tiny-qwen2", 9000, 4)
    assert s.adapter == ["b=runs/b", "c=runs/c"]  # the flag replaces the file's list
    g = parse(
        ["generate", "--model", "m", "--input", "i", "--output", "o", "--stop", "x", "--stop", "y"]
    )
    assert (g.stop, g.max_tokens) == (["x", "y"], 256)
    assert parse(["chat", "--model", "m"]).max_tokens == 512


def test_every_command_schema_describes_its_fields():
    for command, schema in SCHEMAS.items():
        fields = describe_fields(schema)
        assert fields, command
        for f in fields:
            assert f["help"], (command, f["key"])
            assert f["flag"].startswith("--") or f["positional"], (command, f["key"])


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
        "lt": None,
        "required": False,
        "repeat": False,
        "positional": False,
    }
    assert fields["format"]["choices"][0] == "auto" and fields["model"]["required"]
    train = {f["key"]: f for f in describe_fields(SCHEMAS["train"])}
    assert train["recipe"]["choices"] == ["sft", "distill", "preference", "grpo"]
    assert train["train.lr"]["gt"] == 0.0 and train["train.lr"]["flag"] == "--train-lr"
