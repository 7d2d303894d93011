"""`tunesmith eval run` / `eval score` end to end on the shipped tiny base (fp32, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunesmith.cli.main import main
from tunesmith.config.schema import DataConfig, EvalConfig, ModelConfig
from tunesmith.data.load import load_conversations
from tunesmith.evaluation.generate import generate_answers, generate_texts, uses_engine
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.tokenize.templates import render_prompt
from tunesmith.training.data import EncodeStats, encode_all
from tunesmith.training.evaluate import evaluate

QA = Path(__file__).parents[1] / "assets" / "eval" / "qa.jsonl"
BASE = "tiny-deepseek-v3-base"
METRICS = "em,f1,bleu,rouge1,rouge2,rouge_l,loss,accuracy,macro_f1,roc_auc"
# The shipped base has never seen the chat template: it rambles (em 0, some token overlap),
# and ranks the right tag first for 3 of the 6 questions by log-likelihood.
PINNED = {
    "em": 0.0,
    "f1": 0.3234127,
    "bleu": 0.0130292,
    "rouge1": 0.2624339,
    "rouge2": 0.0,
    "rouge_l": 0.2624339,
    "loss": 5.75122,
    "ppl": 314.573,
    "accuracy": 0.5,
    "macro_f1": 0.3888889,
    "roc_auc": 0.5416667,
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "out"
    argv = ["eval", "run", "--model", BASE, "--data", str(QA), "--metrics", METRICS]
    assert main([*argv, "--max-new-tokens", "16", "--output", str(out)]) == 0
    return out


def test_eval_run_writes_pinned_metrics_counts_and_rows(evaluated):
    result = json.loads((evaluated / "eval.json").read_text())
    assert list(result["metrics"]) == list(PINNED)
    for key, value in PINNED.items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
    assert result["counts"] == {"samples": 6, "empty_predictions": 0, "loss_tokens": 96}
    assert result["reasoning"] == {
        "outputs": 6,
        "with_reasoning": 0,
        "closed": 0,
        "closed_share": 0.0,
    }
    rows = [json.loads(x) for x in (evaluated / "predictions.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == [f"{QA}:{i}" for i in range(1, 7)]
    assert rows[0]["reference"] == "<think>\nThe tag of school is close.\n</think>\n\nclose"
    assert rows[0]["predicted_label"] == "close" and rows[0]["metrics"]["accuracy"] == 1.0
    markdown = (evaluated / "eval.md").read_text()
    assert "| accuracy | 0.5000 |" in markdown and "samples 6" in markdown


def test_eval_score_reproduces_eval_run_from_its_predictions(evaluated, tmp_path, capsys):
    capsys.readouterr()
    argv = ["eval", "score", "--input", str(evaluated / "predictions.jsonl")]
    assert main([*argv, "--metrics", METRICS, "--output", str(tmp_path)]) == 0
    assert "│ accuracy │   0.5000 │" in capsys.readouterr().out
    ran = json.loads((evaluated / "eval.json").read_text())["metrics"]
    scored = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert scored == pytest.approx(ran, rel=1e-9)
    rows = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"source", "predicted_label", "metrics"}


def test_engine_generations_equal_hugging_face_generate():
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=BASE))
    prompts = [render_prompt(c) for c in load_conversations([QA]).conversations]
    done: list[int] = []
    ours = generate_answers(
        model, tok, prompts, max_new_tokens=12, batch_size=4, advance=done.append
    )
    assert ours == generate_texts(model, tok, prompts, max_new_tokens=12, batch_size=6)
    assert done == [4, 2] and not model.training and uses_engine(model)


def test_training_eval_computes_the_same_metrics_as_eval_run(evaluated):
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=BASE))
    convs = load_conversations([QA]).conversations
    samples, kept = encode_all(convs, tok, DataConfig(), EncodeStats())
    cfg = EvalConfig(metrics=["loss", "f1", "accuracy", "roc_auc"], max_new_tokens=16)
    got = evaluate(model, tok, samples, kept, cfg, batch_tokens=512)
    ran = json.loads((evaluated / "eval.json").read_text())["metrics"]
    expected = {f"eval_{k}": ran[k] for k in ("loss", "ppl", "f1", "accuracy", "roc_auc")}
    assert got == pytest.approx(expected, rel=1e-6)
