"""`tunesmith eval` help names every metric the evaluator knows."""

from __future__ import annotations

from tunesmith.cli.main import COMMANDS, build_parser
from tunesmith.config.commands import EvalRunSettings, EvalScoreSettings
from tunesmith.config.fields import fields_of
from tunesmith.config.schema import EVAL_METRICS


def test_metrics_help_lists_every_metric():
    for schema in (EvalRunSettings, EvalScoreSettings):
        listed = fields_of(schema)["metrics"].help.split(": ", 1)[1]
        assert tuple(listed.split(", ")) == EVAL_METRICS


def test_eval_actions_dispatch():
    parser = build_parser()
    argv = {
        "eval run": ["eval", "run", "--model", "m", "--data", "d.jsonl"],
        "eval score": ["eval", "score", "--input", "p.jsonl"],
        "eval compare": ["eval", "compare", "a", "b"],
    }
    for command, args in argv.items():
        assert parser.parse_args(args).command == command and command in COMMANDS
