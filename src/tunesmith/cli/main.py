"""The `tunesmith` command: one small function per subcommand over the library API.

    tunesmith train configs/tiny/lora.yaml train.lr=1e-4 data.train=[a.jsonl]
    tunesmith config show configs/tiny/lora.yaml method.lora.r=32
    tunesmith demo --output runs/demo
    tunesmith bench train --json bench.json
    tunesmith data inspect raw.jsonl --max-len 2048
    tunesmith data prepare configs/data/prepare.yaml steps.near_dedupe.threshold=0.85
    tunesmith data prepare --input raw.jsonl --output prepared
    tunesmith bench data --json bench_data.json
    tunesmith models

Imports of the library happen inside each function, so `tunesmith --help` stays fast and a
subcommand only needs its own dependencies when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from tunesmith.cli import deploy_cmd, eval_cmd, export_cmd, jobs_cmd, profile_cmd, serve_cmd
from tunesmith.cli.style import finish_parser, flag_spelling, hoist_global_flags
from tunesmith.config.bench_settings import (
    BenchDataSettings,
    BenchMemorySettings,
    BenchPreferenceSettings,
    BenchRLSettings,
    BenchTrainSettings,
)
from tunesmith.config.settings import add_settings_args, settings_from_args
from tunesmith.config.tool_settings import DataInspectSettings, DemoSettings
from tunesmith.errors import TunesmithError
from tunesmith.log import LEVELS, cli_settings, logging_session
from tunesmith.ui import cli as ui_cmd


def train(args: argparse.Namespace) -> int:
    from tunesmith.config import load_config

    cfg = load_config(args.config, args.overrides)  # a bad config fails before heavy imports
    if args.nproc is not None:
        from tunesmith.training.launch import launch_local

        return launch_local(cfg, args.config, list(args.overrides), args.nproc)
    from tunesmith.api import train as run_train

    run_dir = run_train(args.config, overrides=args.overrides)
    if os.environ.get("RANK", "0") == "0":  # one line per run, not per process
        print(run_dir)
    return 0


def config_show(args: argparse.Namespace) -> int:
    from tunesmith.config import config_to_yaml, load_config

    print(config_to_yaml(load_config(args.config, args.overrides)), end="")
    return 0


def demo(args: argparse.Namespace) -> int:
    from tunesmith.demo import run_demo

    s = settings_from_args(args)
    result = run_demo(s.output) if s.output else run_demo()
    if result is not None:
        print(result)
    return 0


def bench_train(args: argparse.Namespace) -> int:
    from tunesmith.bench.train import run_bench

    s = settings_from_args(args)
    run_bench(
        s.json,
        repeats=s.repeats,
        budget_tokens=s.budget_tokens,
        model=s.model,
        method=s.method,
        precision=s.precision,
    )
    return 0


def bench_memory(args: argparse.Namespace) -> int:
    s = settings_from_args(args)
    if s.shape:
        from tunesmith.bench.memory_real import run_bench as run_real

        run_real(
            s.json,
            shape=s.shape,
            seqs=tuple(s.seq),
            layers=tuple(s.layers),
            arms=tuple(s.arms),
            threads=s.threads,
        )
        return 0
    from tunesmith.bench.memory import run_bench

    run_bench(s.json, steps=s.steps)
    return 0


def data_inspect(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from tunesmith.data.curate.inspect import inspect_data, print_inspection
    from tunesmith.data.curate.inspect_preference import looks_like_preference, preference_report

    s = settings_from_args(args)
    if s.format == "auto" and looks_like_preference(s.files):  # chosen/rejected/completion
        report = preference_report(s, Console())
    else:
        report = inspect_data(
            s.files,
            fmt=s.format,
            max_len=s.max_len,
            tokenizer=s.tokenizer,
            label_fields=s.field or None,
            plot=s.plot if s.tokens else None,
            tokens=s.tokens,
        )
        print_inspection(report, Console())
    if s.json:
        with open(s.json, "w", encoding="utf-8") as f:
            f.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return 0


def data_prepare(args: argparse.Namespace) -> int:
    from tunesmith.data.curate.config import load_prepare_config

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        config, overrides = None, [config, *overrides]  # no CONFIG, only KEY=VALUE overrides
    cfg = load_prepare_config(config, overrides, inputs=args.input, output=args.output)
    from tunesmith.data.curate.pipeline import prepare

    prepare(cfg)
    return 0


def bench_data(args: argparse.Namespace) -> int:
    from tunesmith.bench.data import run_bench

    s = settings_from_args(args)
    run_bench(s.json, docs=s.docs, processes=s.processes, seed=s.seed)
    return 0


def bench_preference(args: argparse.Namespace) -> int:
    from tunesmith.bench.preference import run_bench

    s = settings_from_args(args)
    run_bench(s.json, budget_tokens=s.budget_tokens)
    return 0


def bench_rl(args: argparse.Namespace) -> int:
    from tunesmith.bench.rl import run_bench

    s = settings_from_args(args)
    run_bench(
        s.json, steps=s.steps, prompts_per_step=s.prompts, group_size=s.group_size,
        max_tokens=s.max_tokens, threads=s.threads or None, seeds=s.seeds,
    )  # fmt: skip
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
    "data inspect": data_inspect,
    "data prepare": data_prepare,
    "bench data": bench_data,
    "bench memory": bench_memory,
    "bench preference": bench_preference,
    "bench rl": bench_rl,
    "models": models,
}
COMMANDS.update(eval_cmd.COMMANDS)
COMMANDS.update(serve_cmd.COMMANDS)
COMMANDS.update(export_cmd.COMMANDS)
COMMANDS.update(deploy_cmd.COMMANDS)
COMMANDS.update(profile_cmd.COMMANDS)
COMMANDS.update(jobs_cmd.COMMANDS)
COMMANDS.update(ui_cmd.COMMANDS)


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


class _HelpWithPrepareKeys(argparse.Action):
    """-h/--help of `data prepare` that appends every pipeline setting."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and all settings")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from tunesmith.data.curate.config import format_prepare_help

        print(parser.format_help() + "\n" + format_prepare_help(), end="")
        parser.exit()


def _data_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect and prepare datasets")
    data_sub = p.add_subparsers(metavar="ACTION", required=True)
    p = data_sub.add_parser("inspect", help="formats, counts, token lengths, labels, duplicates")
    add_settings_args(p, DataInspectSettings)
    p.set_defaults(command="data inspect")
    p = data_sub.add_parser(
        "prepare", help="clean, dedupe, filter, balance, augment, split", add_help=False
    )
    p.add_argument("-h", "--help", action=_HelpWithPrepareKeys)
    p.add_argument("config", metavar="CONFIG", nargs="?", help="pipeline YAML (optional)")
    p.add_argument(
        "overrides",
        metavar="KEY=VALUE",
        nargs="*",
        help="dotted overrides, e.g. steps.near_dedupe.threshold=0.85",
    )
    p.add_argument("--input", nargs="+", metavar="FILE", help="input files (input.paths)")
    p.add_argument("--output", metavar="DIR", help="output directory (output.dir)")
    p.set_defaults(command="data prepare")


def _logging_args(parser: argparse.ArgumentParser) -> None:
    """Global options (anywhere on the line), also read from TUNESMITH_LOG_* (docs/logging.md)."""
    g = parser.add_argument_group("logging (anywhere; or TUNESMITH_LOG_LEVEL/_JSON/_FILE)")
    g.add_argument("--log-level", dest="logging_level", choices=LEVELS, help="default: info")
    g.add_argument("--log-json", dest="logging_json", action="store_true", help="JSON lines")
    g.add_argument("--log-file", dest="logging_file", metavar="FILE", help="also append here")
    g = parser.add_argument_group("runtime (before COMMAND)")
    g.add_argument(
        "--threads",
        dest="runtime_threads",
        type=_threads,
        metavar="N",
        help="CPU threads for torch/OpenMP (default: OMP_NUM_THREADS, else the CPUs this "
        "process may use: affinity and cgroup quota)",
    )


def _threads(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected a whole number of threads >= 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunesmith", description="Curate, fine-tune, evaluate, compress and serve LLMs."
    )
    _logging_args(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="fine-tune a model from a YAML config", add_help=False)
    _config_args(p)
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="launch N processes on this machine (torchrun) with the distributed.strategy engine",
    )
    p.set_defaults(command="train")

    p = sub.add_parser("config", help="inspect configs")
    config_sub = p.add_subparsers(metavar="ACTION", required=True)
    p = config_sub.add_parser("show", help="print the resolved config as YAML", add_help=False)
    _config_args(p)
    p.set_defaults(command="config show")

    p = sub.add_parser("demo", help="run the end-to-end demo on the shipped tiny model")
    add_settings_args(p, DemoSettings)
    p.set_defaults(command="demo")

    p = sub.add_parser("bench", help="benchmarks against baselines")
    bench_sub = p.add_subparsers(metavar="BENCH", required=True)
    for name, schema, text in (
        ("train", BenchTrainSettings, "training throughput against the baseline"),
        ("data", BenchDataSettings, "near dedupe against the plain datasketch loop"),
        ("memory", BenchMemorySettings, "peak memory of every method, with and without GC"),
        ("preference", BenchPreferenceSettings, "DPO: TRL's DPOTrainer against tunesmith"),
        ("rl", BenchRLSettings, "GRPO: TRL's GRPOTrainer against tunesmith"),
    ):
        p = bench_sub.add_parser(name, help=text)
        add_settings_args(p, schema)
        p.set_defaults(command=f"bench {name}")
    serve_cmd.add_bench_parser(bench_sub)

    _data_parsers(sub)
    eval_cmd.add_parsers(sub)
    serve_cmd.add_parsers(sub)
    export_cmd.add_parsers(sub)
    deploy_cmd.add_parsers(sub)
    profile_cmd.add_parsers(sub)
    ui_cmd.add_parsers(sub)

    p = sub.add_parser("models", help="list model presets")
    p.set_defaults(command="models")
    return finish_parser(parser)


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """parse_args, except that KEY=VALUE overrides may also follow options
    (`train cfg.yaml --nproc 2 train.lr=1e-4`), which argparse alone rejects, and the global
    logging flags may follow the subcommand."""
    argv = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    argv = jobs_cmd.route_train_job(argv)  # `deploy k8s --train` -> `deploy k8s-train`
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in x and not x.startswith("-") for x in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _setup_threads(args: argparse.Namespace) -> None:
    """Before any torch import: thread count and OpenMP wait policy (tunesmith/runtime.py);
    the choice is logged when the first model loads."""
    from tunesmith.runtime import configure_threads

    configure_threads(args.runtime_threads)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input, 130 on Ctrl-C)."""
    try:
        args = _parse(build_parser(), argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else 0
    try:
        settings = cli_settings(args.logging_level, args.logging_json, args.logging_file)
        with logging_session(settings):
            _setup_threads(args)
            return COMMANDS[args.command](args)
    except TunesmithError as e:
        from tunesmith.training.launch import file_rank_error

        if not file_rank_error(e):  # a rank of `train --nproc`: its launcher prints it once
            print(f"error: {flag_spelling(str(e), args.command)}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:  # an optional dependency: name the extra, one line
        from tunesmith.extras import missing_extra_message

        message = missing_extra_message(e, args.command)
        if message is None:
            raise
        print(message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
