"""Score evaluation rows (predictions, references, labels, class scores, losses); no model here.

    scores = score_rows(rows, ["em", "bleu", "accuracy"])
    scores.metrics    -> {"em": 0.5, "bleu": 0.31, "accuracy": 1.0}
    rows[0].metrics   -> per-sample values of the metrics that have one (em, f1, rouge*, ...)

Text metrics see the final answer of predictions and references (the text after the last
`</think>`) unless `score_reasoning` is set. The predicted class of a row is its
`predicted_label`, else the class with the highest score, else its prediction's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tunesmith.errors import DataError
from tunesmith.evaluation import metrics as M
from tunesmith.evaluation.registry import LABEL, METRICS, TEXT, of_kind


@dataclass
class EvalRow:
    """One evaluated sample; `file`/`line` say where it came from, for error messages."""

    file: str
    line: int
    input: str | None = None
    prediction: str | None = None
    references: list[str] = field(default_factory=list)
    label: str | None = None
    predicted_label: str | None = None
    scores: dict[str, float] | None = None
    loss_sum: float | None = None
    tokens: int = 0
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The row for predictions.jsonl; `tunesmith eval score` reads it back."""
        out: dict[str, Any] = {"source": f"{self.file}:{self.line}"}
        if self.input is not None:
            out["input"] = self.input
        if self.references:
            if len(self.references) == 1:
                out["reference"] = self.references[0]
            else:
                out["references"] = self.references
        if self.prediction is not None:
            out["prediction"] = self.prediction
        for key in ("label", "predicted_label", "scores"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.loss_sum is not None:
            out["loss"] = self.loss_sum / max(self.tokens, 1)
            out["tokens"] = self.tokens
        out["metrics"] = self.metrics
        return out


@dataclass
class Scores:
    metrics: dict[str, float]
    reasoning: dict[str, float] | None
    """outputs, with_reasoning (opened or closed a <think> block), closed, closed_share."""


def _need(row: EvalRow, name: str, metrics: list[str], expected: str) -> DataError:
    return DataError(
        f"missing; needed by {', '.join(metrics)}",
        file=row.file,
        line=row.line,
        field=name,
        expected=expected,
    )


def check_rows(rows: list[EvalRow], metrics: list[str], source: str) -> None:
    """Every row has the fields its metrics need; errors name the file, line and field."""
    if not rows:
        raise DataError("no records to evaluate", file=source)
    text, label = of_kind(metrics, TEXT), of_kind(metrics, LABEL)
    by_class = [m for m in label if m != "roc_auc"]
    for row in rows:
        if text and row.prediction is None:
            raise _need(row, "prediction", text, "a string")
        if text and not row.references:
            expected = "'reference' (a string) or 'references' (a list of strings)"
            raise _need(row, "reference", text, expected)
        if label and row.label is None:
            raise _need(row, "label", label, "the gold class as a string")
        if "roc_auc" in label and row.scores is None:
            raise _need(row, "scores", ["roc_auc"], "an object mapping each class to a score")
        if by_class and row.predicted_label is None and not row.scores and not row.prediction:
            raise _need(row, "predicted_label", by_class, "a string, or 'scores' or 'prediction'")
        if "loss" in metrics and row.loss_sum is None:
            raise _need(row, "loss", ["loss"], "a mean token loss, with 'tokens'")


def score_rows(
    rows: list[EvalRow], metrics: list[str], *, score_reasoning: bool = False, source: str = ""
) -> Scores:
    """Corpus values of `metrics` (keys as in registry.METRICS), per-sample values into rows."""
    check_rows(rows, metrics, source)
    values: dict[str, float] = {}
    if of_kind(metrics, TEXT):
        values |= _text_scores(rows, of_kind(metrics, TEXT), score_reasoning)
    if of_kind(metrics, LABEL):
        values |= _label_scores(rows, of_kind(metrics, LABEL), source)
    if "loss" in metrics:
        values |= _loss_scores(rows)
    ordered = {key: values[key] for m in metrics for key in METRICS[m].keys}
    return Scores(ordered, reasoning_stats(rows))


def _answer(text: str, score_reasoning: bool) -> str:
    return text if score_reasoning else M.final_answer(text)


def _text_scores(rows: list[EvalRow], names: list[str], score_reasoning: bool) -> dict:
    preds = [_answer(r.prediction or "", score_reasoning) for r in rows]
    refs = [[_answer(x, score_reasoning) for x in r.references] for r in rows]
    per_sample = {"em": M.exact_match, "f1": M.token_f1}
    rouge = [n for n in names if n in M.ROUGE_TYPES]
    for row, pred, ref in zip(rows, preds, refs, strict=True):
        for name in names:
            if name in per_sample:
                row.metrics[name] = per_sample[name](pred, ref)
        if rouge:
            row.metrics |= {k: v for k, v in M.rouge(pred, ref).items() if k in rouge}
    out = {n: _mean([r.metrics[n] for r in rows]) for n in names if n != "bleu"}
    if "bleu" in names:
        out["bleu"] = M.corpus_bleu(preds, refs)
    return out


def predicted_class(row: EvalRow) -> str:
    if row.predicted_label is not None:
        return row.predicted_label
    if row.scores:
        return max(sorted(row.scores), key=lambda c: row.scores[c])
    return M.final_answer(row.prediction or "")


def _label_scores(rows: list[EvalRow], names: list[str], source: str) -> dict:
    gold = [r.label or "" for r in rows]
    out: dict[str, float] = {}
    if "accuracy" in names or "macro_f1" in names:
        pred = [predicted_class(r) for r in rows]
        for row, g, p in zip(rows, gold, pred, strict=True):
            row.metrics["accuracy"] = float(g == p)
        out["accuracy"] = M.accuracy(gold, pred)
        out["macro_f1"] = M.macro_f1(gold, pred)
    if "roc_auc" in names:
        out["roc_auc"] = _roc_auc(rows, gold, source)
    return {n: out[n] for n in names}


def _roc_auc(rows: list[EvalRow], gold: list[str], source: str) -> float:
    classes = sorted(rows[0].scores or {})
    for row in rows:
        where = {"file": row.file, "line": row.line}
        if sorted(row.scores or {}) != classes:
            raise DataError(
                f"classes {sorted(row.scores or {})} differ from the first record's {classes}",
                field="scores",
                expected="the same classes in every record",
                **where,
            )
        if row.label not in classes:
            raise DataError(
                f"'{row.label}' is not one of the scored classes {classes}", field="label", **where
            )
        if len(classes) > 2 and abs(sum(row.scores.values()) - 1.0) > 1e-6:
            raise DataError(
                f"scores sum to {sum(row.scores.values()):.6g}",
                field="scores",
                expected=f"probabilities summing to 1 for {len(classes)} classes",
                **where,
            )
    present = sorted(set(gold))
    if len(present) < 2 or len(classes) < 2:
        raise DataError(
            f"roc_auc is undefined with one class: every label is '{present[0]}'",
            file=source,
            expected="records of at least two classes",
        )
    return M.roc_auc(gold, [[r.scores[c] for c in classes] for r in rows], classes)


def _loss_scores(rows: list[EvalRow]) -> dict:
    total = sum(r.loss_sum or 0.0 for r in rows)
    tokens = sum(r.tokens for r in rows)
    for row in rows:
        if row.tokens:  # a sample truncated to no answer tokens has no loss of its own
            row.metrics["loss"] = (row.loss_sum or 0.0) / row.tokens
    loss = total / max(tokens, 1)
    return {"loss": loss, "ppl": M.perplexity(loss)}


def reasoning_stats(rows: list[EvalRow]) -> dict[str, float] | None:
    """How many outputs opened a <think> block and how many closed it (share of outputs)."""
    outputs = [r.prediction for r in rows if r.prediction is not None]
    if not outputs:
        return None
    closed = sum(M.THINK_CLOSE in text for text in outputs)
    return {
        "outputs": len(outputs),
        "with_reasoning": sum(M.has_reasoning(text) for text in outputs),
        "closed": closed,
        "closed_share": closed / len(outputs),
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
