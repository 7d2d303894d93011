"""The three evaluation jobs as functions (the `tunesmith eval` actions call these).

result, paths = run_eval("runs/demo/run", data=["test.jsonl"], metrics=["em", "loss"])
result, paths = score_file("predictions.jsonl", ["em", "bleu"])
runs, keys, paths = compare("runs/a/eval", "runs/b/eval")
"""

from __future__ import annotations

import json
from pathlib import Path

from tunesmith.evaluation.compare import Evaluated, load_evaluated, metric_names, plot_compare
from tunesmith.evaluation.records import read_dataset, read_predictions
from tunesmith.evaluation.registry import LABEL, PAIR, TEXT, of_kind, parse_metrics
from tunesmith.evaluation.report import fmt, markdown_table, write_results
from tunesmith.evaluation.runner import EvalOptions, EvalResult, evaluate_items, label_choices
from tunesmith.evaluation.score import score_rows

PREDICTIONS, SCORES = "predictions.jsonl", "scores.jsonl"
COMPARE_MD, COMPARE_JSON, COMPARE_PNG = "compare.md", "compare.json", "compare.png"


def run_eval(
    model: str,
    data: list[str],
    metrics: list[str] | str = "em",
    *,
    adapter: str | None = None,
    output: str | Path | None = None,
    data_format: str = "auto",
    max_samples: int = 0,
    dtype: str = "float32",
    max_new_tokens: int = 64,
    batch_size: int = 64,
    batch_tokens: int = 4096,
    max_len: int = 4096,
    score_reasoning: bool = False,
    progress: bool = False,
) -> tuple[EvalResult, dict[str, Path]]:
    """Evaluate `model` (+ `adapter`) on `data`; write eval.json, predictions.jsonl, eval.md.

    The data is read and checked against the metrics before the model loads. Options are
    those of `tunesmith eval run` (docs/eval.md).
    """
    names = parse_metrics(metrics)
    if of_kind(names, PAIR):
        from tunesmith.evaluation.pairwise import run_pairwise

        return run_pairwise(model, data, names, adapter=adapter, output=output,
                            max_samples=max_samples, dtype=dtype, batch_tokens=batch_tokens,
                            max_len=max_len, progress=progress)  # fmt: skip
    opts = EvalOptions(names, max_new_tokens, batch_size, batch_tokens, max_len, score_reasoning)
    items = read_dataset(data, names, data_format, max_samples)
    if of_kind(names, LABEL):
        label_choices(items, names, ", ".join(data))  # fails on one class before loading
    from tunesmith.evaluation.load import default_output, load_for_eval

    lm, tok = load_for_eval(model, adapter, dtype)
    result = evaluate_items(lm, tok, items, opts, progress=progress, source=", ".join(data))
    result.info = {
        "model": model,
        "adapter": adapter,
        "data": data,
        "max_new_tokens": opts.max_new_tokens if of_kind(names, TEXT) else None,
        "score_reasoning": opts.score_reasoning,
    }
    out = Path(output) if output is not None else default_output(model, adapter)
    return result, write_results(result, out, PREDICTIONS)


def score_file(
    path: str | Path,
    metrics: list[str] | str,
    *,
    output: str | Path | None = None,
    score_reasoning: bool = False,
    allow_empty: bool = False,
) -> tuple[EvalResult, dict[str, Path]]:
    """Score a predictions file; write eval.json, eval.md and scores.jsonl (per-sample
    metrics by source line) into `output` (default: the file's directory)."""
    names = parse_metrics(metrics)
    rows = read_predictions(path, allow_empty)
    scores = score_rows(rows, names, score_reasoning=score_reasoning, source=str(path))
    counts = {"samples": len(rows)}
    if of_kind(names, TEXT):
        counts["empty_predictions"] = sum(not (r.prediction or "").strip() for r in rows)
    info = {"input": str(path), "score_reasoning": score_reasoning}
    result = EvalResult(scores.metrics, counts, scores.reasoning, rows, info)
    out = Path(output) if output is not None else Path(path).parent
    keep = ("source", "predicted_label", "metrics")
    return result, write_results(result, out, SCORES, keep)


def compare(
    *sources: str, metrics: list[str] | str | None = None, output: str | Path = "runs/compare"
) -> tuple[list[Evaluated], list[str], dict[str, Path]]:
    """Read each evaluation; write compare.md, compare.json and compare.png into `output`."""
    runs = [load_evaluated(s) for s in sources]
    only = metrics.split(",") if isinstance(metrics, str) else metrics
    keys = metric_names(runs, [m.strip() for m in only] if only else None)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / COMPARE_MD, "json": out / COMPARE_JSON, "plot": out / COMPARE_PNG}
    table = [[r.name] + [fmt(r.metrics.get(k)) for k in keys] for r in runs]
    paths["markdown"].write_text(markdown_table(["run", *keys], table), encoding="utf-8")
    rows = [{"name": r.name, "path": str(r.path), "metrics": r.metrics} for r in runs]
    paths["json"].write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    plot_compare(runs, keys, paths["plot"])
    return runs, keys, paths
