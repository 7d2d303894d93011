"""Every metric equals its reference implementation on the shared fixtures, to 1e-6.

The references are called here directly (sacrebleu, rouge-score, scikit-learn) or
re-implemented from the official SQuAD v1.1 evaluation script; nothing of tunesmith is used
to compute an expected value. Predictions are cut to their final answer (after the last
</think>; an unclosed <think> has no answer) before the references see them.
"""

from __future__ import annotations

import json
import re
import string
import warnings
from collections import Counter
from pathlib import Path

import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from tunesmith.evaluation.records import read_predictions
from tunesmith.evaluation.score import score_rows

ASSETS = Path(__file__).parents[2] / "assets" / "eval"


# -- the official SQuAD v1.1 evaluate script's functions, verbatim in logic
def squad_normalize(s: str) -> str:
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def squad_f1(prediction: str, ground_truth: str) -> float:
    prediction_tokens = squad_normalize(prediction).split()
    ground_truth_tokens = squad_normalize(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def squad_em(prediction: str, ground_truth: str) -> bool:
    return squad_normalize(prediction) == squad_normalize(ground_truth)


def max_over_ground_truths(metric_fn, prediction, ground_truths):
    return max(metric_fn(prediction, gt) for gt in ground_truths)


def answer(text: str) -> str:
    if "</think>" in text:
        return text.split("</think>")[-1].strip()
    return "" if "<think>" in text else text.strip()


def load(name: str) -> list[dict]:
    lines = (ASSETS / name).read_text().splitlines()
    return [json.loads(line) for line in lines]


def references(record: dict) -> list[str]:
    return record.get("references") or [record["reference"]]


def scored(name: str, metrics: list[str]) -> dict[str, float]:
    return score_rows(read_predictions(ASSETS / name), metrics).metrics


def test_squad_exact_match_and_f1():
    records = load("text.jsonl")
    preds = [answer(r["prediction"]) for r in records]
    refs = [references(r) for r in records]
    pairs = list(zip(preds, refs, strict=True))
    em = sum(max_over_ground_truths(squad_em, p, g) for p, g in pairs) / len(pairs)
    f1 = sum(max_over_ground_truths(squad_f1, p, g) for p, g in pairs) / len(pairs)
    got = scored("text.jsonl", ["em", "f1"])
    assert got["em"] == pytest.approx(em, abs=1e-6) and em == pytest.approx(2 / 8)
    assert got["f1"] == pytest.approx(f1, abs=1e-6) and 0.3 < f1 < 0.8


def test_corpus_bleu_is_sacrebleu_with_defaults():
    records = load("text.jsonl")
    preds = [answer(r["prediction"]) for r in records]
    refs = [references(r) for r in records]
    streams = [[g[k] if k < len(g) else None for g in refs] for k in range(2)]
    expected = sacrebleu.BLEU().corpus_score(preds, streams).score / 100
    assert scored("text.jsonl", ["bleu"])["bleu"] == pytest.approx(expected, abs=1e-6)
    assert 0.05 < expected < 0.9


def test_rouge_is_rouge_score_fmeasure_mean_with_stemming():
    records = load("text.jsonl")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    per_sample = [scorer.score_multi(references(r), answer(r["prediction"])) for r in records]
    got = scored("text.jsonl", ["rouge1", "rouge2", "rouge_l"])
    for ours, theirs in (("rouge1", "rouge1"), ("rouge2", "rouge2"), ("rouge_l", "rougeL")):
        expected = sum(s[theirs].fmeasure for s in per_sample) / len(per_sample)
        assert got[ours] == pytest.approx(expected, abs=1e-6)
        assert 0.0 < expected < 1.0


def test_binary_accuracy_macro_f1_and_auc_are_sklearn():
    records = load("binary.jsonl")
    labels = [r["label"] for r in records]
    predicted = [answer(r["prediction"]) for r in records]
    got = scored("binary.jsonl", ["accuracy", "macro_f1", "roc_auc"])
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(f1_score(labels, predicted, average="macro"), abs=1e-6)
    auc = roc_auc_score(labels, [r["scores"]["pos"] for r in records])
    assert got["roc_auc"] == pytest.approx(auc, abs=1e-6)
    assert (got["accuracy"], got["roc_auc"]) == (pytest.approx(4 / 6), pytest.approx(8 / 9))


def test_multiclass_scores_pick_the_class_and_auc_is_one_vs_rest_macro():
    records = load("multiclass.jsonl")
    classes = sorted(records[0]["scores"])
    labels = [r["label"] for r in records]
    predicted = [r.get("predicted_label") or max(r["scores"], key=r["scores"].get) for r in records]
    matrix = [[r["scores"][c] for c in classes] for r in records]
    got = scored("multiclass.jsonl", ["accuracy", "macro_f1", "roc_auc"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f1 = f1_score(labels, predicted, average="macro")
    assert got["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    assert got["macro_f1"] == pytest.approx(f1, abs=1e-6)
    auc = roc_auc_score(labels, matrix, multi_class="ovr", labels=classes)
    assert got["roc_auc"] == pytest.approx(auc, abs=1e-6)
