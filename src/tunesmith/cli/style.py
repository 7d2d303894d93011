"""One style for every command's help and errors, applied to the whole parser tree at once.

- every subcommand's `--help` starts with its one-line description (the line the parent lists);
- every option shows its default (`(default: X)`) unless it has none worth showing;
- the global logging flags (`--log-level`, `--log-json`, `--log-file`) may be given anywhere,
  before or after the subcommand (`serve --log-level` and `ui --log-level` stay their own);
- an error that names a config key of the model section says the flag the user typed instead
  (`--model:` rather than `model.name_or_path:`) in commands that take flags, not a config.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

GLOBAL_FLAGS = {"--log-level": True, "--log-json": False, "--log-file": True}  # takes a value?

# config keys as flag-based commands spell them (the model section is loaded by every command)
KEY_FLAGS = {
    "model.name_or_path": "--model",
    "model.tokenizer": "--tokenizer",
    "model.dtype": "--dtype",
}
CONFIG_COMMANDS = ("train", "config show", "data prepare")


def subparsers(
    parser: argparse.ArgumentParser, name: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command name, parser) below `parser`, the root first as ''."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for sub_name, sub in action.choices.items():
                if sub.description is None and helps.get(sub_name):
                    sub.description = helps[sub_name][0].upper() + helps[sub_name][1:] + "."
                yield from subparsers(sub, f"{name} {sub_name}".strip())


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


def _worth_showing(default: object) -> bool:
    return not (default is None or default is False or default in (argparse.SUPPRESS, "", []))


def finish_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Descriptions and defaults in every subcommand's help (see the module docstring)."""
    for _, p in subparsers(parser):
        for action in p._actions:
            if not action.option_strings or not action.help or action.help == argparse.SUPPRESS:
                continue
            if _worth_showing(action.default) and "default" not in action.help:
                action.help += " (default: %(default)s)"
    return parser


def hoist_global_flags(argv: list[str]) -> list[str]:
    """argv with the global logging flags moved before the subcommand, wherever they were."""
    front: list[str] = []
    rest: list[str] = []
    command = ""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest += argv[i:]
            break
        flag = token.split("=", 1)[0]
        own = command in ("serve", "ui") and flag == "--log-level"  # their server's own level
        if flag in GLOBAL_FLAGS and not own:
            takes_value = GLOBAL_FLAGS[flag] and "=" not in token
            front += argv[i : i + 1 + takes_value]
            i += 1 + takes_value
            continue
        if not command and not token.startswith("-"):
            command = token
        rest.append(token)
        i += 1
    return front + rest


def flag_spelling(message: str, command: str) -> str:
    """`model.name_or_path: ...` as `--model: ...` for commands configured by flags."""
    if command in CONFIG_COMMANDS:
        return message
    for key, flag in KEY_FLAGS.items():
        if message.startswith(key + ":") or message.startswith(key + " "):
            return flag + message[len(key) :]
    return message
