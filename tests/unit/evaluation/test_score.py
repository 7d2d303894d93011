"""Scoring rows: reasoning-aware answers, reasoning counts, class picking, row round trip."""

from __future__ import annotations

import json

import pytest

from tunesmith.config.schema import EVAL_METRICS
from tunesmith.errors import ConfigError, DataError
from tunesmith.evaluation.metrics import split_reasoning
from tunesmith.evaluation.records import read_predictions
from tunesmith.evaluation.registry import METRICS, parse_metrics
from tunesmith.evaluation.score import EvalRow, score_rows

OUTPUTS = ["<think>\nthe capital\n</think>\n\nParis.", "<think>\nstill thinking", "paris"]


def rows(predictions: list[str], reference: str = "Paris") -> list[EvalRow]:
    return [
        EvalRow("p.jsonl", i + 1, prediction=p, references=[reference])
        for i, p in enumerate(predictions)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>\nx\n</think>\n\n answer ", ("answer", True)),
        ("<think>a</think>b</think> last", ("last", True)),
        (
            "</think>closed by a template that opened it",
            ("closed by a template that opened it", True),
        ),
        ("<think>never closed", ("", False)),
        ("  plain  ", ("plain", True)),
    ],
)
def test_split_reasoning(text, expected):
    assert split_reasoning(text) == expected


def test_only_the_final_answer_is_scored_and_closed_reasoning_is_counted():
    scores = score_rows(rows(OUTPUTS), ["em", "f1"])
    assert scores.metrics == {"em": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3)}
    assert scores.reasoning == {
        "outputs": 3,
        "with_reasoning": 2,
        "closed": 1,
        "closed_share": pytest.approx(1 / 3),
    }


def test_score_reasoning_scores_whole_outputs():
    scored = rows(OUTPUTS)
    scores = score_rows(scored, ["em"], score_reasoning=True)
    assert scores.metrics == {"em": pytest.approx(1 / 3)}
    assert [r.metrics for r in scored] == [{"em": 0.0}, {"em": 0.0}, {"em": 1.0}]


def test_metric_keys_follow_the_requested_order():
    scored = rows(["a b c", "a b"], "a b c")
    for r in scored:
        r.loss_sum, r.tokens = 2.0, 4
    metrics = score_rows(scored, ["rouge_l", "loss", "em"]).metrics
    assert list(metrics) == ["rouge_l", "loss", "ppl", "em"]
    assert metrics["loss"] == 0.5 and metrics["ppl"] == pytest.approx(1.6487212707)


def test_rows_round_trip_through_a_predictions_file(tmp_path):
    row = EvalRow("d.jsonl", 3, input="q", prediction="<think>x</think> a", references=["a", "b"])
    row.label, row.predicted_label, row.scores = "a", "b", {"a": 0.25, "b": 0.75}
    row.loss_sum, row.tokens = 3.0, 4
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(row.to_json()) + "\n")
    back = read_predictions(path)[0]
    for key in ("input", "prediction", "references", "label", "predicted_label", "scores"):
        assert getattr(back, key) == getattr(row, key)
    assert (back.loss_sum, back.tokens, back.line) == (3.0, 4, 1)


def test_metric_names_match_the_config_schema():
    assert tuple(METRICS) == EVAL_METRICS


def test_parse_metrics_keeps_order_and_drops_repeats():
    assert parse_metrics("em, f1,em,,bleu") == ["em", "f1", "bleu"]
    assert parse_metrics(["loss"]) == ["loss"]
    with pytest.raises(ConfigError, match=r"^--metrics: no metric given; valid: loss, em, "):
        parse_metrics(" , ")


def test_auc_needs_two_classes_among_the_labels():
    scored = [EvalRow("s.jsonl", i, label="pos", scores={"neg": 0.5, "pos": 0.5}) for i in (1, 2)]
    with pytest.raises(DataError) as e:
        score_rows(scored, ["roc_auc"], source="s.jsonl")
    assert str(e.value) == (
        "s.jsonl: roc_auc is undefined with one class: every label is 'pos' "
        "(expected records of at least two classes)"
    )


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            {"a": 0.5, "b": 0.5},
            {"a": 0.5, "c": 0.5},
            "s.jsonl:2: field 'scores': classes ['a', 'c'] differ from the first record's "
            "['a', 'b'] (expected the same classes in every record)",
        ),
        (
            {"a": 0.2, "b": 0.3, "c": 0.5},
            {"a": 0.5, "b": 0.5, "c": 0.5},
            "s.jsonl:2: field 'scores': scores sum to 1.5 (expected probabilities summing to 1 "
            "for 3 classes)",
        ),
    ],
)
def test_auc_checks_the_scored_classes(first, second, message):
    scored = [
        EvalRow("s.jsonl", 1, label="a", scores=first),
        EvalRow("s.jsonl", 2, label="b", scores=second),
    ]
    with pytest.raises(DataError) as e:
        score_rows(scored, ["roc_auc"], source="s.jsonl")
    assert str(e.value) == message
