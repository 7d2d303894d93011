"""Helpers for the deploy tests: read a generated directory, run the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml

from tunesmith.cli.main import main


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_yaml_text(text: str) -> dict:
    return yaml.safe_load(text)


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:  # noqa: ANN001
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_usage_error(capsys, argv: list[str], usage: str) -> None:  # noqa: ANN001
    """argparse rejects `argv`: exit 2, nothing on stdout, `usage` in the message."""
    code, stdout, err = run_cli(capsys, argv)
    assert code == 2 and stdout == "" and usage in err
