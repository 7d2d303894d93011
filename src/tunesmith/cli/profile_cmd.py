"""`tunesmith profile`: where a train or inference step spends its time, memory and FLOPs.

tunesmith profile --model tiny-llama --batch-size 4 --seq-len 128
tunesmith profile --model runs/demo/run --mode infer --batch-size 8 --seq-len 256
tunesmith profile profile.yaml seq_len=256 --mode infer     # CONFIG.yaml + overrides + flags
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tunesmith.config.settings import add_settings_args, settings_from_args
from tunesmith.config.tool_settings import ProfileSettings


def profile(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.profile import check_profile, run_profile
    from tunesmith.profile.report import print_report

    s = settings_from_args(args, check=check_profile)  # before loading anything
    report = run_profile(s)
    console = Console(width=None if sys.stdout.isatty() else 150)
    print_report(report, console, top=s.top)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"profile": profile}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="torch.profiler tables, FLOPs per token, fraction of measured peak"
    )
    add_settings_args(p, ProfileSettings)
    p.set_defaults(command="profile")
