"""`tunesmith eval`: score a model on a dataset, score existing predictions, compare runs.

tunesmith eval run --model runs/demo/run --data runs/demo/data/test.jsonl --metrics em,f1
tunesmith eval run --model tiny-deepseek-v3-base --adapter runs/demo/run/adapter --data t.jsonl
tunesmith eval score --input predictions.jsonl --metrics em,bleu,rouge_l
tunesmith eval compare runs/base-eval runs/demo/run --output runs/compare
tunesmith eval compare compare.yaml metrics=em,f1 runs/a runs/b   # CONFIG.yaml + overrides
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from tunesmith.cli import jobs_cmd
from tunesmith.config.commands import EvalRunSettings, EvalScoreSettings
from tunesmith.config.settings import add_settings_args, settings_from_args
from tunesmith.config.tool_settings import EvalCompareSettings


def eval_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import run_eval
    from tunesmith.evaluation.report import print_results

    s = settings_from_args(args)
    result, paths = run_eval(
        s.model,
        s.data,
        s.metrics,
        adapter=s.adapter,
        output=s.output,
        data_format=s.format,
        max_samples=s.max_samples,
        dtype=s.dtype,
        max_new_tokens=s.max_new_tokens,
        batch_size=s.batch_size,
        batch_tokens=s.batch_tokens,
        max_len=s.max_len,
        score_reasoning=s.score_reasoning,
        progress=sys.stderr.isatty(),
    )
    print_results(result, paths, Console())
    return 0


def eval_score(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import score_file
    from tunesmith.evaluation.report import print_results

    s = settings_from_args(args)
    result, paths = score_file(
        s.input,
        s.metrics,
        output=s.output,
        score_reasoning=s.score_reasoning,
        allow_empty=s.allow_empty,
    )
    print_results(result, paths, Console())
    return 0


def eval_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import compare
    from tunesmith.evaluation.report import print_comparison

    s = settings_from_args(args)
    runs, keys, paths = compare(*s.runs, metrics=s.metrics, output=s.output)
    print_comparison(runs, keys, paths, Console())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "eval run": eval_run,
    "eval score": eval_score,
    "eval compare": eval_compare,
}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model, score predictions, compare runs")
    eval_sub = p.add_subparsers(metavar="ACTION", required=True)

    p = eval_sub.add_parser("run", help="generate / teacher-force on a dataset and score it")
    add_settings_args(p, EvalRunSettings)
    p.set_defaults(command="eval run")

    p = eval_sub.add_parser("score", help="score a predictions file without a model")
    add_settings_args(p, EvalScoreSettings)
    p.set_defaults(command="eval score")

    p = eval_sub.add_parser("compare", help="metrics of several evaluations side by side")
    add_settings_args(p, EvalCompareSettings)
    p.set_defaults(command="eval compare")

    jobs_cmd.add_eval_parser(eval_sub)
