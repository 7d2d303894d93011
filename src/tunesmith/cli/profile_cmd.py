"""`tunesmith profile`: where a train or inference step spends its time, memory and FLOPs.

tunesmith profile --model tiny-llama --batch-size 4 --seq-len 128
tunesmith profile --model runs/demo/run --mode infer --batch-size 8 --seq-len 256
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def profile(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.profile import ProfileOptions, run_profile
    from tunesmith.profile.report import print_report

    opts = ProfileOptions(
        model=args.model,
        adapter=args.adapter,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        mode=args.mode,
        steps=args.steps,
        warmup=args.warmup,
        dtype=args.dtype,
        device=args.device,
        top=args.top,
        output=args.output,
    )
    opts.check()  # before loading anything
    report = run_profile(opts)
    console = Console(width=None if sys.stdout.isatty() else 150)
    print_report(report, console, top=args.top)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"profile": profile}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="torch.profiler tables, FLOPs per token, fraction of measured peak"
    )
    p.add_argument("--model", required=True, help="preset, model directory or run directory")
    p.add_argument("--adapter", metavar="DIR", help="PEFT adapter on --model (kept unmerged)")
    p.add_argument("--batch-size", type=int, default=4, help="sequences per step")
    p.add_argument("--seq-len", type=int, default=128, help="tokens per sequence")
    p.add_argument(
        "--mode",
        default="train",
        choices=("train", "infer"),
        help="train: forward + backward + AdamW; infer: one forward (prefill)",
    )
    p.add_argument("--steps", type=int, default=3, help="timed steps, then as many profiled")
    p.add_argument("--warmup", type=int, default=1, help="steps before timing")
    p.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="weight dtype",
    )
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    p.add_argument("--top", type=int, default=10, help="rows per table")
    p.add_argument(
        "--output",
        metavar="DIR",
        help="profile.json and trace.json (default: runs/profile/NAME-MODE)",
    )
    p.set_defaults(command="profile")
