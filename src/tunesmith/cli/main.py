"""The `tunesmith` command: one small function per subcommand over the library API.

    tunesmith train configs/tiny/lora.yaml train.lr=1e-4 data.train=[a.jsonl]
    tunesmith config show configs/tiny/lora.yaml method.lora.r=32
    tunesmith demo --output runs/demo
    tunesmith bench train --json bench.json
    tunesmith models

Imports of the library happen inside each function, so `tunesmith --help` stays fast and a
subcommand only needs its own dependencies when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from tunesmith.errors import TunesmithError


def train(args: argparse.Namespace) -> int:
    from tunesmith.config import load_config

    load_config(args.config, args.overrides)  # a bad config fails before the heavy imports
    from tunesmith.api import train as run_train

    print(run_train(args.config, overrides=args.overrides))
    return 0


def config_show(args: argparse.Namespace) -> int:
    from tunesmith.config import config_to_yaml, load_config

    print(config_to_yaml(load_config(args.config, args.overrides)), end="")
    return 0


def demo(args: argparse.Namespace) -> int:
    from tunesmith.demo import run_demo

    result = run_demo(args.output) if args.output else run_demo()
    if result is not None:
        print(result)
    return 0


def bench_train(args: argparse.Namespace) -> int:
    from tunesmith.bench.train import run_bench

    run_bench(args.json)
    return 0


def models(args: argparse.Namespace) -> int:
    from tunesmith.models.registry import PRESETS

    width = max((len(name) for name in PRESETS), default=0)
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {getattr(preset, 'description', '')}".rstrip())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train,
    "config show": config_show,
    "demo": demo,
    "bench train": bench_train,
    "models": models,
}


class _HelpWithConfigKeys(argparse.Action):
    """-h/--help that appends every config key (imported only when asked for)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and all config keys")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from tunesmith.config import format_help

        print(parser.format_help() + "\n" + format_help(), end="")
        parser.exit()


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-h", "--help", action=_HelpWithConfigKeys)
    parser.add_argument("config", metavar="CONFIG", help="YAML config file")
    parser.add_argument(
        "overrides", metavar="KEY=VALUE", nargs="*", help="dotted overrides, e.g. train.lr=1e-4"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith", description="Curate, fine-tune, evaluate, compress and serve LLMs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="fine-tune a model from a YAML config", add_help=False)
    _config_args(p)
    p.set_defaults(command="train")

    p = sub.add_parser("config", help="inspect configs")
    config_sub = p.add_subparsers(metavar="ACTION", required=True)
    p = config_sub.add_parser("show", help="print the resolved config as YAML", add_help=False)
    _config_args(p)
    p.set_defaults(command="config show")

    p = sub.add_parser("demo", help="run the end-to-end demo on the shipped tiny model")
    p.add_argument("--output", metavar="DIR", help="output directory")
    p.set_defaults(command="demo")

    p = sub.add_parser("bench", help="benchmarks against baselines")
    bench_sub = p.add_subparsers(metavar="BENCH", required=True)
    p = bench_sub.add_parser("train", help="training throughput against the baseline")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.set_defaults(command="bench train")

    p = sub.add_parser("models", help="list model presets")
    p.set_defaults(command="models")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, 130 on Ctrl-C)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 0
    try:
        return COMMANDS[args.command](args)
    except TunesmithError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
