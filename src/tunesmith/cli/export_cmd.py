"""`tunesmith export`: turn a training output into the model a runtime wants.

tunesmith export merge --adapter runs/demo/run --output runs/demo/merged
tunesmith export merge --adapter runs/sql/adapter --base models/my-base --output merged --overwrite
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def export_merge(args: argparse.Namespace) -> int:
    from tunesmith.compress.merge import merge_adapter
    from tunesmith.compress.report import REPORT_NAME

    report = merge_adapter(
        args.adapter, args.output, base=args.base, dtype=args.dtype, overwrite=args.overwrite
    )
    print(
        f"merged {report['peft_type']} adapter {report['adapter']} into {report['base']}\n"
        f"  parameters         {report['parameters']:,}\n"
        f"  size on disk       {report['size_bytes'] / 2**20:.1f} MiB\n"
        f"  max |logit diff|   {report['max_abs_logit_diff']:.3g} "
        f"(vs the adapter model, {report['probe_prompts']} prompts)\n"
        f"{args.output}  (report: {args.output.rstrip('/')}/{REPORT_NAME})"
    )
    return 0


DTYPES = ("float32", "bfloat16", "float16")
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"export merge": export_merge}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="merge adapters into plain model directories")
    export_sub = p.add_subparsers(metavar="ACTION", required=True)

    p = export_sub.add_parser(
        "merge", help="fold a LoRA / DoRA adapter into its base; write a plain HF model dir"
    )
    p.add_argument(
        "--adapter",
        required=True,
        metavar="DIR",
        help="a tunesmith run dir, its adapter/ dir, or any PEFT LoRA / DoRA adapter dir",
    )
    p.add_argument("--output", required=True, metavar="DIR", help="the merged model directory")
    p.add_argument(
        "--base",
        metavar="DIR",
        help="base preset or model dir (default: base_model_name_or_path in adapter_config.json)",
    )
    dtype_help = "dtype the merge runs and the weights are saved in (default: %(default)s)"
    p.add_argument("--dtype", default="float32", choices=DTYPES, help=dtype_help)
    p.add_argument(
        "--overwrite", action="store_true", help="replace --output if it exists and is not empty"
    )
    p.set_defaults(command="export merge")
