"""One CLI style (issue 15 item 9): every subcommand's help has a description and shows its
defaults, every option has help text, the global logging flags work after the subcommand, and
errors name the flag the user typed."""

from __future__ import annotations

import argparse

import pytest

from tunesmith.cli.main import build_parser, main
from tunesmith.cli.style import flag_spelling, hoist_global_flags, subparsers
from tunesmith.config.settings import settings_from_args


def test_every_subcommand_has_a_description_and_every_option_help_with_its_default():
    commands = list(subparsers(build_parser()))
    assert len(commands) > 25
    for name, parser in commands[1:]:
        assert parser.description, f"`tunesmith {name} --help` has no description line"
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"tunesmith {name} {action.option_strings[0]} has no help text"
            shown = not (
                action.default is None
                or action.default is False
                or action.default in ("", [], argparse.SUPPRESS)
            )
            if shown:
                assert "default" in action.help, (name, action.option_strings)
    help_text = dict(commands)["serve"].format_help()
    assert "--host HOST           address to listen on (default: 127.0.0.1)" in help_text
    assert "OpenAI-compatible server with continuous batching." in help_text


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        (["train", "c.yaml", "--log-json"], ["--log-json", "train", "c.yaml"]),
        (
            ["eval", "run", "--log-file", "x.log", "--model", "m"],
            ["--log-file", "x.log", "eval", "run", "--model", "m"],
        ),
        (["models", "--log-level=debug"], ["--log-level=debug", "models"]),
        (["--log-file", "serve", "serve", "--log-level", "debug"], None),  # serve's own flag
    ],
)
def test_global_flags_move_before_the_subcommand(argv, want):
    assert hoist_global_flags(argv) == (want or argv)


def test_log_flags_after_the_subcommand_are_accepted(tmp_path, capsys):
    log = tmp_path / "run.log"
    assert main(["config", "show", "nothing.yaml", "--log-json", "--log-file", str(log)]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err
    assert err.startswith("error: ") and "nothing.yaml" in err


def test_errors_name_the_flag_in_flag_commands():
    msg = "model.name_or_path: 'nope' is neither a preset (a, b) nor an existing directory"
    assert flag_spelling(msg, "serve") == (
        "--model: 'nope' is neither a preset (a, b) nor an existing directory"
    )
    assert flag_spelling(msg, "train") == msg  # a config command keeps the key


def test_serve_with_a_missing_model_names_the_flag(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["serve", "--model", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --model: '{missing}'"), err


def test_bench_warning_suggests_a_flag_the_cli_accepts():
    from rich.console import Console

    from tunesmith.bench.report import ROWS, print_report

    arm = {key: 1.0 for _, key, _, _ in ROWS} | {"cpu_utilization": 0.5}
    report = {
        "settings": {"model": "m", "lora": {"r": 8}, "train_data": {"tokens": 1}, "torch_threads": 1},
        "baseline": arm, "tunesmith": arm, "speedup": 1.0, "loss_ratio": 1.0,
    }  # fmt: skip
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    assert "(try `tunesmith bench train --repeats 2`)" in text
    args = build_parser().parse_args(["bench", "train", "--repeats", "2"])
    assert settings_from_args(args).repeats == 2
