"""Evaluate a model on dataset items: generate, teacher-force, classify, then score.

    items = read_dataset(["test.jsonl"], ["em", "loss"])
    result = evaluate_items(model, tok, items, EvalOptions(["em", "loss"]))
    result.metrics  -> {"em": 1.0, "loss": 0.0012, "ppl": 1.0012}

Text metrics (em, f1, bleu, rouge*) score greedy generations of each prompt. `loss` is
teacher-forced over the assistant turns (whole text of a text sample). Label metrics pick
the choice with the highest summed log-likelihood of `{choice}<eos>` after the prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.errors import DataError
from tunesmith.evaluation.generate import generate_answers
from tunesmith.evaluation.loglik import classify, encode_for_loss, sample_losses
from tunesmith.evaluation.records import EvalItem
from tunesmith.evaluation.registry import LABEL, TEXT, of_kind
from tunesmith.evaluation.score import EvalRow, score_rows
from tunesmith.progress import EvalProgress


@dataclass
class EvalOptions:
    metrics: list[str]
    max_new_tokens: int = 64
    batch_size: int = 64
    """prompts per generation batch"""
    batch_tokens: int = 4096
    """tokens per teacher-forced forward pass (loss, label log-likelihood)"""
    max_len: int = 4096
    """tokens per sample for loss; longer samples are cut on the right"""
    score_reasoning: bool = False


@dataclass
class EvalResult:
    metrics: dict[str, float]
    counts: dict[str, int]
    reasoning: dict[str, float] | None
    rows: list[EvalRow]
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """eval.json: metric -> value, counts, reasoning stats, what was evaluated."""
        return {
            "metrics": self.metrics,
            "counts": self.counts,
            "reasoning": self.reasoning,
            **self.info,
        }


def label_choices(items: list[EvalItem], metrics: list[str], source: str) -> list[list[str]]:
    """Candidate classes per item: its `choices`, else every label in the dataset (sorted)."""
    labels = sorted({item.row.label or "" for item in items})
    choices = [item.choices or labels for item in items]
    first = sorted(choices[0])
    for item, options in zip(items, choices, strict=True):
        if len(options) < 2:
            raise DataError(
                f"only one class ('{options[0]}') to choose from",
                file=source,
                field="label",
                expected="records of at least two labels, or a 'choices' list per record",
            )
        if "roc_auc" in metrics and sorted(options) != first:
            raise DataError(
                f"choices {sorted(options)} differ from the first record's {first}",
                file=item.row.file,
                line=item.row.line,
                field="choices",
                expected="the same choices in every record for roc_auc",
            )
    return choices


def evaluate_items(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    items: list[EvalItem],
    opts: EvalOptions,
    *,
    progress: bool = False,
    source: str = "",
) -> EvalResult:
    """Run the model as `opts.metrics` need, then score; rows carry per-sample results."""
    rows = [item.row for item in items]
    convs = [item.conv for item in items]
    text, label = of_kind(opts.metrics, TEXT), of_kind(opts.metrics, LABEL)
    choices = label_choices(items, opts.metrics, source) if label else []
    counts = {"samples": len(items)}
    with EvalProgress(enabled=progress) as bar:
        if text:
            _generate(model, tok, rows, opts, bar.task("generate", len(rows)))
            counts["empty_predictions"] = sum(not (r.prediction or "").strip() for r in rows)
        if "loss" in opts.metrics:
            counts["loss_tokens"] = _losses(model, tok, convs, rows, opts, bar)
        if label:
            advance = bar.task("classify", sum(map(len, choices)))
            probs = classify(model, tok, convs, choices, opts.batch_tokens, advance)
            for row, p in zip(rows, probs, strict=True):
                row.scores = p
                row.predicted_label = max(p, key=p.__getitem__)
    scores = score_rows(rows, opts.metrics, score_reasoning=opts.score_reasoning, source=source)
    return EvalResult(scores.metrics, counts, scores.reasoning, rows)


def _generate(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    rows: list[EvalRow],
    opts: EvalOptions,
    advance: Callable[[int], None],
) -> None:
    texts = generate_answers(
        model,
        tok,
        [r.input or "" for r in rows],
        max_new_tokens=opts.max_new_tokens,
        batch_size=opts.batch_size,
        advance=advance,
    )
    for row, text in zip(rows, texts, strict=True):
        row.prediction = text


def _losses(
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    convs: list,
    rows: list[EvalRow],
    opts: EvalOptions,
    bar: EvalProgress,
) -> int:
    """Fill each row's loss; returns the number of target tokens scored."""
    encoded = encode_for_loss(tok, convs, opts.max_len)
    kept = [(row, s) for row, s in zip(rows, encoded, strict=True) if s is not None]
    advance = bar.task("loss", len(kept))
    losses = sample_losses(model, [s for _, s in kept], opts.batch_tokens, advance)
    for row in rows:
        row.loss_sum, row.tokens = 0.0, 0
    for (row, _), (total, n) in zip(kept, losses, strict=True):
        row.loss_sum, row.tokens = total, n
    return sum(n for _, n in losses)
