"""Every metric by name: what it scores, what it needs and which keys it reports.

Its names equal `config.schema.EVAL_METRICS` (the train config checks names without importing
this package; a test keeps the two equal); this map adds what the evaluator needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunesmith.errors import ConfigError

TEXT, LABEL, LOSS, PAIR = "text", "label", "loss", "pair"


@dataclass(frozen=True)
class MetricSpec:
    kind: str
    """text: a prediction against references; label: classes; loss: teacher forcing;
    pair: log-probs of chosen vs rejected answers of preference pairs."""
    keys: tuple[str, ...]
    """What it reports (eval.json `metrics`; `eval_<key>` during training)."""
    higher_is_better: bool
    help: str


METRICS: dict[str, MetricSpec] = {
    "loss": MetricSpec(LOSS, ("loss", "ppl"), False, "mean token loss and perplexity"),
    "em": MetricSpec(TEXT, ("em",), True, "SQuAD exact match"),
    "f1": MetricSpec(TEXT, ("f1",), True, "SQuAD token F1"),
    "bleu": MetricSpec(TEXT, ("bleu",), True, "sacrebleu corpus BLEU / 100"),
    "rouge1": MetricSpec(TEXT, ("rouge1",), True, "ROUGE-1 F-measure"),
    "rouge2": MetricSpec(TEXT, ("rouge2",), True, "ROUGE-2 F-measure"),
    "rouge_l": MetricSpec(TEXT, ("rouge_l",), True, "ROUGE-L F-measure"),
    "accuracy": MetricSpec(LABEL, ("accuracy",), True, "share of correct labels"),
    "macro_f1": MetricSpec(LABEL, ("macro_f1",), True, "per-class F1, unweighted mean"),
    "roc_auc": MetricSpec(LABEL, ("roc_auc",), True, "ROC-AUC from class scores"),
    "pairwise_accuracy": MetricSpec(
        PAIR,
        ("pairwise_accuracy",),
        True,
        "share of preference pairs whose chosen answer has the higher log-prob (preference data)",
    ),  # fmt: skip
}

HIGHER_IS_BETTER = {key: s.higher_is_better for s in METRICS.values() for key in s.keys}


def parse_metrics(names: str | list[str], where: str = "--metrics") -> list[str]:
    """`"em,f1"` or `["em", "f1"]` -> checked names in the given order, without repeats."""
    items = names.split(",") if isinstance(names, str) else list(names)
    out = list(dict.fromkeys(n.strip() for n in items if n.strip()))
    if not out:
        raise ConfigError(f"{where}: no metric given; valid: {', '.join(METRICS)}")
    unknown = [n for n in out if n not in METRICS]
    if unknown:
        listed = ", ".join(f"'{n}'" for n in unknown)
        raise ConfigError(
            f"{where}: unknown metric {listed}; valid: "
            + ", ".join(f"{n} ({s.help})" for n, s in METRICS.items())
        )
    return out


def of_kind(metrics: list[str], kind: str) -> list[str]:
    return [m for m in metrics if METRICS[m].kind == kind]
