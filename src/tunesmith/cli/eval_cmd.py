"""`tunesmith eval`: score a model on a dataset, score existing predictions, compare runs.

tunesmith eval run --model runs/demo/run --data runs/demo/data/test.jsonl --metrics em,f1
tunesmith eval run --model tiny-deepseek-v3-base --adapter runs/demo/run/adapter --data t.jsonl
tunesmith eval score --input predictions.jsonl --metrics em,bleu,rouge_l
tunesmith eval compare runs/base-eval runs/demo/run --output runs/compare
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def eval_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import run_eval
    from tunesmith.evaluation.report import print_results

    result, paths = run_eval(
        args.model,
        args.data,
        args.metrics,
        adapter=args.adapter,
        output=args.output,
        data_format=args.format,
        max_samples=args.max_samples,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        batch_tokens=args.batch_tokens,
        max_len=args.max_len,
        score_reasoning=args.score_reasoning,
        progress=sys.stderr.isatty(),
    )
    print_results(result, paths, Console())
    return 0


def eval_score(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import score_file
    from tunesmith.evaluation.report import print_results

    result, paths = score_file(
        args.input,
        args.metrics,
        output=args.output,
        score_reasoning=args.score_reasoning,
        allow_empty=args.allow_empty,
    )
    print_results(result, paths, Console())
    return 0


def eval_compare(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunesmith.evaluation.api import compare
    from tunesmith.evaluation.report import print_comparison

    runs, keys, paths = compare(*args.runs, metrics=args.metrics, output=args.output)
    print_comparison(runs, keys, paths, Console())
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "eval run": eval_run,
    "eval score": eval_score,
    "eval compare": eval_compare,
}


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum {minimum}")
        return value

    return parse


METRICS_HELP = (
    "comma-separated: loss, em, f1, bleu, rouge1, rouge2, rouge_l, accuracy, macro_f1, "
    "roc_auc, pairwise_accuracy (default: %(default)s)"
)
REASONING_HELP = "score whole outputs, <think> block included (default: the final answer)"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a model, score predictions, compare runs")
    eval_sub = p.add_subparsers(metavar="ACTION", required=True)

    p = eval_sub.add_parser("run", help="generate / teacher-force on a dataset and score it")
    p.add_argument(
        "--model",
        required=True,
        metavar="DIR",
        help="a preset name, a Hugging Face model dir, a training run dir or an adapter dir",
    )
    p.add_argument("--adapter", metavar="DIR", help="a PEFT adapter dir applied to --model")
    p.add_argument("--data", required=True, nargs="+", metavar="FILE", help="dataset files or dirs")
    p.add_argument("--metrics", default="em", help=METRICS_HELP)
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "messages", "sharegpt", "alpaca", "cqa", "text"],
        help="record format (default: auto-detected per record)",
    )
    for flag, minimum, default, text in (
        ("--max-new-tokens", 1, 64, "tokens generated per answer at most"),
        ("--batch-size", 1, 64, "sequences generated together"),
        ("--batch-tokens", 8, 4096, "tokens per teacher-forced pass (loss, classes)"),
        ("--max-len", 2, 4096, "tokens per sample for loss (longer: cut on the right)"),
        ("--max-samples", 0, 0, "evaluate the first N records; 0 = all"),
    ):
        p.add_argument(
            flag,
            type=_count(minimum),
            default=default,
            metavar="N",
            help=f"{text} (default: %(default)s)",
        )
    p.add_argument("--score-reasoning", action="store_true", help=REASONING_HELP)
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "bfloat16", "float16"],
        help="weight dtype (default: %(default)s)",
    )
    p.add_argument(
        "--output",
        metavar="DIR",
        help="results dir (default: RUN/eval, DIR-eval beside a "
        "model dir, runs/eval/NAME for a preset)",
    )
    p.set_defaults(command="eval run")

    p = eval_sub.add_parser("score", help="score a predictions file without a model")
    p.add_argument("--input", required=True, metavar="FILE", help="predictions file")
    p.add_argument("--metrics", default="em", help=METRICS_HELP)
    p.add_argument("--score-reasoning", action="store_true", help=REASONING_HELP)
    p.add_argument(
        "--allow-empty", action="store_true", help="score empty predictions as wrong answers"
    )
    p.add_argument(
        "--output", metavar="DIR", help="results dir (default: the input file's directory)"
    )
    p.set_defaults(command="eval score")

    p = eval_sub.add_parser("compare", help="metrics of several evaluations side by side")
    p.add_argument("runs", nargs="+", metavar="RUN_OR_EVAL", help="eval.json files or dirs")
    p.add_argument("--metrics", help="comma-separated subset to show (default: all)")
    p.add_argument(
        "--output", default="runs/compare", metavar="DIR", help="compare.md/.json/.png here"
    )
    p.set_defaults(command="eval compare")
