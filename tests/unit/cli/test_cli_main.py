"""The `tunesmith` CLI: dispatch, lazy imports, help, config show, errors and exit codes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml

from tunesmith.cli.main import COMMANDS, build_parser, main
from tunesmith.config import Config, load_config
from tunesmith.errors import DataError


def fake_module(monkeypatch, name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def schema_keys(cls: type = Config, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    keys = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        keys.append(key)
        if dataclasses.is_dataclass(hints[f.name]):
            keys += schema_keys(hints[f.name], key)
    return keys


@pytest.fixture
def cfg_file(tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path("cfg.yaml").write_text("train:\n  lr: 1e-4\ndata:\n  train: [a.jsonl]\n")
    return "cfg.yaml"


def test_commands_map_covers_every_subcommand():
    assert set(COMMANDS) == {
        "train",
        "config show",
        "demo",
        "bench train",
        "models",
        "data inspect",
        "data prepare",
        "bench data",
        "bench memory",
        "bench preference",
        "bench rl",
        "bench serve",
        "eval run",
        "eval score",
        "eval compare",
        "serve",
        "chat",
        "generate",
        "export merge",
        "export quantize",
        "export gguf",
        "export report",
        "export prune",
        "deploy docker",
        "deploy k8s",
        "deploy k8s-train",
        "deploy slurm",
        "eval harness",
        "profile",
        "ui",
    }
    assert all(callable(fn) for fn in COMMANDS.values())
    parser = build_parser()
    needs_args = {
        "train": ["c.yaml"],
        "config show": ["c.yaml"],
        "data inspect": ["raw.jsonl"],
        "eval run": ["--model", "m", "--data", "d.jsonl", "--metrics", "em"],
        "eval score": ["--input", "p.jsonl", "--metrics", "em"],
        "eval compare": ["a", "b"],
        "serve": ["--model", "m"],
        "chat": ["--model", "m"],
        "generate": ["--model", "m", "--input", "p.jsonl", "--output", "o.jsonl"],
        "export merge": ["--adapter", "a", "--output", "o"],
        "export quantize": ["--model", "m", "--scheme", "int8-dynamic", "--output", "o"],
        "export gguf": ["--model", "m", "--output", "o.gguf"],
        "export report": ["a", "b"],
        "export prune": ["--model", "m", "--output", "o", "--mode", "structured"],
        "deploy docker": ["--model", "m", "--output", "o"],
        "deploy k8s": ["--model-uri", "pvc://m", "--output", "o"],
        "profile": ["--model", "m"],
    }
    for command in COMMANDS:
        argv = command.split() + needs_args.get(command, [])
        assert parser.parse_args(argv).command == command


def test_config_show_prints_the_resolved_yaml(cfg_file, capsys):
    assert main(["config", "show", cfg_file, "method.lora.r=4", "train.resume=no"]) == 0
    out = capsys.readouterr().out
    shown = yaml.safe_load(out)
    assert shown["train"]["lr"] == 1e-4 and shown["method"]["lora"]["r"] == 4
    assert shown["data"]["train"] == ["a.jsonl"] and shown["train"]["resume"] == "no"
    expected = load_config(cfg_file, ["method.lora.r=4", "train.resume=no"])
    Path("shown.yaml").write_text(out)
    assert load_config("shown.yaml") == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["config", "show", "cfg.yaml", "train.lrr=1"],
            "error: unknown config key 'train.lrr' (in override 'train.lrr=1'); "
            "did you mean 'train.lr'?\n",
        ),
        (["config", "show", "missing.yaml"], "error: config file not found: missing.yaml\n"),
        (
            ["config", "show", "cfg.yaml", "train.lr"],
            "error: malformed override 'train.lr': expected key=value, e.g. train.lr=2e-4\n",
        ),
        (
            ["train", "cfg.yaml", "train.scheduler=cosin"],
            "error: train.scheduler: 'cosin' is not one of cosine, linear, constant "
            "(in override 'train.scheduler=cosin')\n",
        ),
    ],
)
def test_config_errors_print_one_line_and_exit_2(cfg_file, capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == message and captured.out == ""


def test_train_validates_then_calls_the_api(cfg_file, capsys, monkeypatch):
    calls = []

    def train(path, overrides=None):
        calls.append((path, overrides))
        return Path("runs/x")

    fake_module(monkeypatch, "tunesmith.api", train=train)
    assert main(["train", cfg_file, "train.lr=3e-4", "data.train=[b.jsonl]"]) == 0
    assert calls == [(cfg_file, ["train.lr=3e-4", "data.train=[b.jsonl]"])]
    assert capsys.readouterr().out == "runs/x\n"


def test_bad_config_fails_before_importing_the_api(cfg_file, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("api must not run")

    fake_module(monkeypatch, "tunesmith.api", train=boom)
    assert main(["train", cfg_file, "train.lr=-1"]) == 2


def test_errors_from_the_library_exit_with_their_code(cfg_file, capsys, monkeypatch):
    def train(path, overrides=None):
        raise DataError("bad record", file="a.jsonl", line=3, field="messages")

    fake_module(monkeypatch, "tunesmith.api", train=train)
    assert main(["train", cfg_file]) == 2
    assert capsys.readouterr().err == "error: a.jsonl:3: field 'messages': bad record\n"


def test_keyboard_interrupt_exits_130(cfg_file, capsys, monkeypatch):
    def train(path, overrides=None):
        raise KeyboardInterrupt

    fake_module(monkeypatch, "tunesmith.api", train=train)
    assert main(["train", cfg_file]) == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["train"], ["config"], ["bench"], ["bench", "nope"], ["demo", "--bogus"]],
)
def test_usage_errors_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "usage: tunesmith" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = ("train", "config", "demo", "bench", "models", "data", "eval", "serve", "deploy")
    for command in (*commands, "profile"):
        assert f"    {command} " in out


@pytest.mark.parametrize("argv", [["train", "--help"], ["config", "show", "-h"]])
def test_train_help_lists_every_config_key(capsys, argv):
    assert main(argv) == 0
    out = capsys.readouterr().out
    nproc = " [--nproc N]" if argv[0] == "train" else ""
    assert out.startswith(
        f"usage: tunesmith {' '.join(argv[:-1])} [-h]{nproc} CONFIG [KEY=VALUE ...]"
    )
    words = set(out.replace(":", " ").split())
    missing = [key for key in schema_keys() if key not in words]
    assert not missing


def test_demo_passes_the_output_dir(capsys, monkeypatch):
    calls = []

    def run_demo(*args):
        calls.append(args)
        return {"em_after": 1.0}

    fake_module(monkeypatch, "tunesmith.demo", run_demo=run_demo)
    assert main(["demo", "--output", "out/d"]) == 0
    assert main(["demo"]) == 0
    assert calls == [("out/d",), ()]
    assert capsys.readouterr().out == "{'em_after': 1.0}\n" * 2


def test_bench_train_passes_the_json_path(monkeypatch):
    calls = []
    fake_module(monkeypatch, "tunesmith.bench")
    fake_module(
        monkeypatch, "tunesmith.bench.train", run_bench=lambda path, **kw: calls.append((path, kw))
    )
    assert main(["bench", "train", "--json", "b.json"]) == 0
    assert (
        main(["bench", "train", "--method", "full", "--precision", "bf16", "--repeats", "2"]) == 0
    )
    defaults = {"budget_tokens": 200_000, "model": "tiny-qwen2", "method": "lora"}
    assert calls == [
        ("b.json", {**defaults, "precision": "fp32", "repeats": 1}),
        (None, {**defaults, "method": "full", "precision": "bf16", "repeats": 2}),
    ]


def test_bench_memory_shape_runs_the_real_dimension_bench(monkeypatch):
    calls = []
    fake_module(monkeypatch, "tunesmith.bench")
    fake_module(
        monkeypatch,
        "tunesmith.bench.memory_real",
        run_bench=lambda path, **kw: calls.append((path, kw)),
    )
    argv = ["bench", "memory", "--shape", "qwen-1.5b", "--seq", "1024", "--layers", "1"]
    assert main([*argv, "--arms", "tunesmith lora + chunked"]) == 0
    assert calls == [
        (
            None,
            {
                "shape": "qwen-1.5b",
                "seqs": (1024,),
                "layers": (1,),
                "arms": ("tunesmith lora + chunked",),
                "threads": 0,
            },
        )
    ]


def test_models_lists_names_and_descriptions(capsys, monkeypatch):
    preset = types.SimpleNamespace
    fake_module(
        monkeypatch,
        "tunesmith.models.registry",
        PRESETS={"tiny-a": preset(description="first"), "tiny-bb": preset(description="second")},
    )
    assert main(["models"]) == 0
    assert capsys.readouterr().out == "tiny-a   first\ntiny-bb  second\n"


def test_help_imports_no_subcommand_module():
    code = (
        "import sys; from tunesmith.cli.main import main; main(['--help']); "
        "heavy = ('torch', 'transformers', 'tunesmith.api', 'tunesmith.demo', 'yaml'); "
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_python_dash_m_runs_the_cli(cfg_file):
    done = subprocess.run(
        [sys.executable, "-m", "tunesmith", "config", "show", cfg_file, "train.lr=abc"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: train.lr: expected a number, got 'abc' (str) (in override 'train.lr=abc')\n"
    )
