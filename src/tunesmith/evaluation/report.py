"""Write and show evaluation results: eval.json, per-sample jsonl, a Markdown table, rich."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunesmith.evaluation.compare import Evaluated, best_of
from tunesmith.evaluation.runner import EvalResult

EVAL_JSON, EVAL_MD = "eval.json", "eval.md"


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _reasoning_line(reasoning: dict[str, float] | None) -> str | None:
    if reasoning is None:
        return None
    return (
        f"reasoning: {reasoning['with_reasoning']} of {reasoning['outputs']} outputs opened a "
        f"<think> block, {reasoning['closed']} closed it "
        f"(closed share {reasoning['closed_share']:.2%})"
    )


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items())


def to_markdown(result: EvalResult) -> str:
    parts = ["# Evaluation", ""]
    for key, value in result.info.items():
        if value is not None:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else value
            parts.append(f"- {key}: {shown}")
    parts += ["", markdown_table(["metric", "value"], _metric_rows(result.metrics))]
    parts.append(_counts_line(result.counts))
    reasoning = _reasoning_line(result.reasoning)
    if reasoning is not None:
        parts += ["", reasoning]
    return "\n".join(parts) + "\n"


def _metric_rows(metrics: dict[str, float]) -> list[list[str]]:
    return [[name, fmt(value)] for name, value in metrics.items()]


def write_results(
    result: EvalResult, out_dir: str | Path, rows_name: str, keep: tuple[str, ...] | None = None
) -> dict[str, Path]:
    """eval.json, eval.md and `rows_name` (one JSON object per sample, only the `keep`
    fields when given) into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / EVAL_JSON, "markdown": out / EVAL_MD, "rows": out / rows_name}
    paths["json"].write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(to_markdown(result), encoding="utf-8")
    with open(paths["rows"], "w", encoding="utf-8") as f:
        for row in result.rows:
            data = row.to_json()
            if keep is not None:
                data = {k: v for k, v in data.items() if k in keep}
            f.write(json.dumps(data, ensure_ascii=False) + "\n")
    return paths


def print_results(result: EvalResult, paths: dict[str, Path], console: Console) -> None:
    table = Table(title="evaluation")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in _metric_rows(result.metrics):
        table.add_row(name, value)
    console.print(table)
    console.print(_counts_line(result.counts))
    reasoning = _reasoning_line(result.reasoning)
    if reasoning is not None:
        console.print(reasoning, markup=False, soft_wrap=True)
    console.print(
        f"wrote {', '.join(str(p) for p in paths.values())}", markup=False, soft_wrap=True
    )


def print_comparison(
    runs: list[Evaluated], keys: list[str], paths: dict[str, Path], console: Console
) -> None:
    """Runs as rows, metrics as columns; the best value of each metric in bold."""
    table = Table(title="evaluation comparison")
    table.add_column("run", overflow="fold")
    for key in keys:
        table.add_column(key, justify="right")
    best = {key: best_of(runs, key) for key in keys}
    for run in runs:
        cells = []
        for key in keys:
            value = run.metrics.get(key)
            text = fmt(value)
            cells.append(f"[bold]{text}[/]" if value is not None and value == best[key] else text)
        table.add_row(run.name, *cells)
    console.print(table)
    console.print(
        f"wrote {', '.join(str(p) for p in paths.values())}", markup=False, soft_wrap=True
    )
