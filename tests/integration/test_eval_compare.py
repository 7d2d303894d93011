"""Metrics during training (eval.metrics, early stopping on any of them) and `eval compare`
over two real tiny runs: the table, compare.json and the bar-chart PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import tiny_config
from tunesmith.api import train
from tunesmith.cli.main import main
from tunesmith.evaluation.generate import uses_engine
from tunesmith.evaluation.load import load_for_eval

MODEL = "tiny-qwen2"


def train_run(chat_files, root: Path, name: str, lr: float) -> Path:
    cfg = tiny_config(MODEL, "lora", chat_files["train"], root / name, lr=lr)
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    cfg["eval"] = {"metrics": ["loss", "f1", "rouge_l"], "max_new_tokens": 4, "max_samples": 4}
    cfg["train"].update(
        max_steps=4,
        eval_every=2,
        early_stopping_patience=5,
        early_stopping_metric="eval_f1",
        early_stopping_mode="max",
    )
    return train(cfg)


@pytest.fixture(scope="module")
def runs(chat_files, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return train_run(chat_files, root, "a", 3e-3), train_run(chat_files, root, "b", 1e-2)


def test_training_logs_every_configured_metric(runs):
    rows = [json.loads(x) for x in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval_loss" in r]
    assert [r["step"] for r in evals] == [2, 4]
    for r in evals:
        assert set(r) >= {"eval_loss", "eval_ppl", "eval_f1", "eval_rouge_l"}
        assert 0.0 <= r["eval_f1"] <= 1.0 and 0.0 <= r["eval_rouge_l"] <= 1.0
    summary = json.loads((runs[0] / "train_summary.json").read_text())
    assert summary["final"] == {"step": 4, **{k: v for k, v in evals[-1].items() if "eval" in k}}


def test_a_lora_run_is_merged_for_the_inference_engine(runs):
    model, _ = load_for_eval(str(runs[0]))
    assert uses_engine(model) and type(model).__name__ == "Qwen2ForCausalLM"


def test_eval_compare_two_runs_table_json_and_png(runs, chat_files, tmp_path, capsys):
    a, b = runs
    data = str(chat_files["validation"])
    argv = ["eval", "run", "--model", str(a), "--data", data, "--metrics", "f1,loss"]
    assert main([*argv, "--max-samples", "4", "--max-new-tokens", "4"]) == 0
    assert (a / "eval" / "eval.json").is_file()  # default output: beside the adapter
    capsys.readouterr()

    assert main(["eval", "compare", str(a), str(b), "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    compared = json.loads((tmp_path / "compare.json").read_text())
    assert [c["name"] for c in compared] == [str(a), str(b)]
    assert compared[0]["path"] == str(a / "eval" / "eval.json")
    assert compared[1]["path"] == str(b / "train_summary.json")
    evaluated = json.loads((a / "eval" / "eval.json").read_text())["metrics"]
    final_b = json.loads((b / "train_summary.json").read_text())["final"]
    assert compared[0]["metrics"] == evaluated
    assert compared[1]["metrics"] == {k[5:]: v for k, v in final_b.items() if k != "step"}

    header = next(line for line in out.splitlines() if "f1" in line and "run" in line)
    assert [w for w in header.replace("┃", " ").split()] == ["run", "f1", "loss", "ppl", "rouge_l"]
    markdown = (tmp_path / "compare.md").read_text().splitlines()
    assert markdown[0] == "| run | f1 | loss | ppl | rouge_l |"
    assert markdown[2].startswith(f"| {a} | {evaluated['f1']:.4f} |") and markdown[2].endswith(
        "| — |"
    )
    png = (tmp_path / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_eval_compare_picks_metrics(runs, tmp_path, capsys):
    assert (
        main(["eval", "compare", *map(str, runs), "--metrics", "f1", "--output", str(tmp_path)])
        == 0
    )
    assert (tmp_path / "compare.md").read_text().splitlines()[0] == "| run | f1 |"
    assert main(["eval", "compare", str(runs[1]), "--metrics", "bleu"]) == 2
    assert capsys.readouterr().err == (
        "error: --metrics: bleu not in any evaluation; available: loss, ppl, f1, rouge_l\n"
    )
