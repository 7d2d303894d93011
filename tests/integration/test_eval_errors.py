"""Bad input to `tunesmith eval`: one `error: ...` line naming file, line and field; exit 2.

Data problems surface before any model loads, so these run in milliseconds.
"""

from __future__ import annotations

import json

import pytest

from helpers import write_jsonl
from tunesmith.cli.main import main

VALID = (
    "valid: loss (mean token loss and perplexity), em (SQuAD exact match), f1 (SQuAD token "
    "F1), bleu (sacrebleu corpus BLEU / 100), rouge1 (ROUGE-1 F-measure), rouge2 (ROUGE-2 "
    "F-measure), rouge_l (ROUGE-L F-measure), accuracy (share of correct labels), macro_f1 "
    "(per-class F1, unweighted mean), roc_auc (ROC-AUC from class scores), pairwise_accuracy "
    "(share of preference pairs whose chosen answer has the higher log-prob (preference data))"
)
BASE = "tiny-deepseek-v3-base"
USER = {"role": "user", "content": "hi"}

# name -> (records, argv after the file, expected stderr with {f} for the file path)
SCORE_CASES = {
    "missing reference": (
        [{"prediction": "a", "reference": "a"}, {"prediction": "b"}],
        ["--metrics", "em,f1"],
        "error: {f}:2: field 'reference': missing; needed by em, f1 "
        "(expected 'reference' (a string) or 'references' (a list of strings))",
    ),
    "missing prediction": (
        [{"reference": "a"}],
        ["--metrics", "bleu"],
        "error: {f}:1: field 'prediction': missing; needed by bleu (expected a string)",
    ),
    "empty prediction": (
        [{"prediction": "  ", "reference": "a"}],
        [],
        "error: {f}:1: field 'prediction': empty prediction (pass --allow-empty to score it "
        "as a wrong answer) (expected non-empty text)",
    ),
    "no predictions at all": ([], [], "error: {f}: no records to evaluate"),
    "unknown metric": (
        [{"prediction": "a", "reference": "a"}],
        ["--metrics", "em,blue"],
        f"error: --metrics: unknown metric 'blue'; {VALID}",
    ),
    "label metric without labels": (
        [{"prediction": "a", "reference": "a"}],
        ["--metrics", "em,accuracy"],
        "error: {f}:1: field 'label': missing; needed by accuracy "
        "(expected the gold class as a string)",
    ),
    "auc without scores": (
        [{"label": "a", "prediction": "a"}],
        ["--metrics", "roc_auc"],
        "error: {f}:1: field 'scores': missing; needed by roc_auc "
        "(expected an object mapping each class to a score)",
    ),
    "scores not an object": (
        [{"label": "a", "scores": [0.2, 0.8]}],
        ["--metrics", "roc_auc"],
        "error: {f}:1: field 'scores': got list "
        "(expected an object mapping at least two classes to numbers)",
    ),
    "loss without a model": (
        [{"prediction": "a", "reference": "a"}],
        ["--metrics", "loss"],
        "error: {f}:1: field 'loss': missing; needed by loss "
        "(expected a mean token loss, with 'tokens')",
    ),
    "references not strings": (
        [{"prediction": "a", "references": ["a", 3]}],
        [],
        "error: {f}:1: field 'references[1]': got int "
        "(expected a list of at least 1 non-empty strings)",
    ),
}

RUN_CASES = {
    "conversation without a reference answer": (
        [{"messages": [USER]}],
        [],
        "error: {f}:1: field 'messages': no reference answer: conversation has no assistant "
        "turn (expected the last turn to be the assistant's reference answer)",
    ),
    "trailing user turn": (
        [{"messages": [USER, {"role": "assistant", "content": "yo"}, USER]}],
        [],
        "error: {f}:1: field 'messages[2].role': no reference answer: conversation ends with "
        "a user turn that has no reply (expected the last turn to be the assistant's "
        "reference answer)",
    ),
    "text sample for a generative metric": (
        [{"text": "plain prose"}],
        ["--metrics", "loss,em"],
        "error: {f}:1: field 'text': a text sample has no prompt or reference answer "
        "(needed by em) (expected messages, sharegpt, alpaca or cqa records)",
    ),
    "label outside the choices": (
        [{"instruction": "x", "output": "yes", "label": "maybe", "choices": ["yes", "no"]}],
        ["--metrics", "accuracy"],
        "error: {f}:1: field 'label': 'maybe' is not one of choices ['yes', 'no'] "
        "(expected the gold class to be one of the record's choices)",
    ),
    "a single class": (
        [{"instruction": "x", "output": "yes"}, {"instruction": "y", "output": "yes"}],
        ["--metrics", "accuracy"],
        "error: {f}: field 'label': only one class ('yes') to choose from "
        "(expected records of at least two labels, or a 'choices' list per record)",
    ),
    "auc over different choices": (
        [
            {"instruction": "x", "output": "a", "choices": ["a", "b"]},
            {"instruction": "y", "output": "a", "choices": ["a", "c"]},
        ],
        ["--metrics", "roc_auc"],
        "error: {f}:2: field 'choices': choices ['a', 'c'] differ from the first record's "
        "['a', 'b'] (expected the same choices in every record for roc_auc)",
    ),
}


def check(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == expected + "\n" and captured.out == ""


@pytest.mark.parametrize("case", SCORE_CASES)
def test_eval_score_bad_input(case, tmp_path, capsys):
    records, extra, expected = SCORE_CASES[case]
    path = write_jsonl(tmp_path / "predictions.jsonl", records)
    check(capsys, ["eval", "score", "--input", str(path), *extra], expected.format(f=path))


@pytest.mark.parametrize("case", RUN_CASES)
def test_eval_run_bad_data_fails_before_loading_the_model(case, tmp_path, capsys):
    records, extra, expected = RUN_CASES[case]
    path = write_jsonl(tmp_path / "data.jsonl", records)
    argv = ["eval", "run", "--model", "no-such-model", "--data", str(path), *extra]
    check(capsys, argv, expected.format(f=path))


def test_eval_run_bad_model_and_adapter(tmp_path, capsys):
    path = write_jsonl(tmp_path / "data.jsonl", [{"instruction": "x", "output": "y"}])
    check(
        capsys,
        ["eval", "run", "--model", "nope", "--data", str(path)],
        "error: --model: 'nope' is neither a preset (tiny-deepseek-v3, tiny-deepseek-v3-base, "
        "tiny-llama, tiny-qwen2) nor an existing directory",
    )
    check(
        capsys,
        ["eval", "run", "--model", BASE, "--adapter", str(tmp_path), "--data", str(path)],
        f"error: --adapter: '{tmp_path}' has no adapter_config.json "
        "(expected a PEFT adapter directory such as RUN/adapter)",
    )


def test_empty_predictions_are_scored_with_allow_empty(tmp_path, capsys):
    rows = [{"prediction": "", "reference": "b"}, {"prediction": "b.", "reference": "B"}]
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    assert main(["eval", "score", "--input", str(path), "--allow-empty"]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["metrics"] == {"em": 0.5}
    assert result["counts"] == {"samples": 2, "empty_predictions": 1}
    assert "samples 2, empty predictions 1" in capsys.readouterr().out


def test_eval_compare_without_results(tmp_path, capsys):
    check(
        capsys,
        ["eval", "compare", str(tmp_path)],
        f"error: eval compare: '{tmp_path}' has no evaluation results (expected an eval.json, "
        "or a directory holding eval.json, eval/eval.json, harness.json or eval/harness.json, "
        "or a training run's train_summary.json or metrics.jsonl with eval_* values)",
    )
    (tmp_path / "eval.json").write_text('{"metrics": {"em": "high"}}')
    check(
        capsys,
        ["eval", "compare", str(tmp_path)],
        f"error: {tmp_path / 'eval.json'}: field 'metrics': no metric values "
        "(expected {name: number})",
    )
