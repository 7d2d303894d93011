"""Side-by-side metrics of several evaluations: a table and a grouped bar chart.

Each argument is an eval.json (or harness.json) file or a directory. A directory is searched,
in order, for `eval.json` / `harness.json`, `eval/eval.json` / `eval/harness.json` (a run
evaluated with `tunesmith eval run` / `eval harness`: both files' metrics), then a training
run's own evaluation: `train_summary.json` (`final`), else the last `metrics.jsonl` record
with `eval_*` values (the `eval_` prefix is dropped).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tunesmith.errors import ConfigError, DataError
from tunesmith.evaluation.registry import HIGHER_IS_BETTER

UNBOUNDED = ("loss", "ppl")
RESULT_FILES = ("eval.json", "harness.json")


@dataclass
class Evaluated:
    name: str
    """the argument as given"""
    path: Path
    """the file the metrics came from"""
    metrics: dict[str, float]


def _numbers(values: object, path: Path, field: str) -> dict[str, float]:
    ok = isinstance(values, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()
    )
    if not ok or not values:
        raise DataError("no metric values", file=str(path), field=field, expected="{name: number}")
    return {str(k): float(v) for k, v in values.items()}


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read JSON: {e}", file=str(path)) from None


def _from_eval_json(path: Path) -> dict[str, float]:
    data = _read_json(path)
    if not isinstance(data, dict) or "metrics" not in data:
        raise DataError("not an eval.json", file=str(path), field="metrics", expected="an object")
    return _numbers(data["metrics"], path, "metrics")


def _strip_eval(record: dict) -> dict[str, float]:
    return {k.removeprefix("eval_"): v for k, v in record.items() if k.startswith("eval_")}


def _from_run(run: Path) -> tuple[Path, dict[str, float]] | None:
    summary = run / "train_summary.json"
    if summary.is_file():
        data = _read_json(summary)
        final = data.get("final") if isinstance(data, dict) else None
        values = _strip_eval(final) if isinstance(final, dict) else {}
        if values:
            return summary, _numbers(values, summary, "final")
    log = run / "metrics.jsonl"
    if log.is_file():
        lines = log.read_text(encoding="utf-8").splitlines()
        for number in range(len(lines), 0, -1):
            try:
                record = json.loads(lines[number - 1]) if lines[number - 1].strip() else {}
            except json.JSONDecodeError as e:
                raise DataError(f"not JSON: {e}", file=str(log), line=number) from None
            if isinstance(record, dict) and _strip_eval(record):
                return log, _numbers(_strip_eval(record), log, f"line {number}")
    return None


def load_evaluated(arg: str) -> Evaluated:
    path = Path(arg)
    if path.is_file():
        return Evaluated(arg, path, _from_eval_json(path))
    if path.is_dir():
        for base in (path, path / "eval"):
            # eval run's eval.json and eval harness's harness.json (task/metric keys) together
            found = [base / name for name in RESULT_FILES if (base / name).is_file()]
            if found:
                metrics: dict[str, float] = {}
                for candidate in found:
                    metrics.update(_from_eval_json(candidate))
                return Evaluated(arg, found[0], metrics)
        found = _from_run(path)
        if found is not None:
            return Evaluated(arg, found[0], found[1])
    raise ConfigError(
        f"eval compare: '{arg}' has no evaluation results (expected an eval.json, or a "
        "directory holding eval.json, eval/eval.json, harness.json or eval/harness.json, or a "
        "training run's train_summary.json or metrics.jsonl with eval_* values)"
    )


def metric_names(runs: list[Evaluated], only: list[str] | None = None) -> list[str]:
    """Metric keys in first-seen order (or `only`, each checked to exist somewhere)."""
    seen = list(dict.fromkeys(k for r in runs for k in r.metrics))
    if only is None:
        return seen
    missing = [m for m in only if m not in seen]
    if missing:
        raise ConfigError(
            f"--metrics: {', '.join(missing)} not in any evaluation; available: {', '.join(seen)}"
        )
    return only


def best_of(runs: list[Evaluated], key: str) -> float | None:
    values = [r.metrics[key] for r in runs if key in r.metrics]
    if len(values) < 2:
        return None
    return max(values) if HIGHER_IS_BETTER.get(key, True) else min(values)


def plot_compare(runs: list[Evaluated], keys: list[str], path: Path) -> Path:
    """Grouped bars, one group per metric, one bar per run; loss / ppl on their own axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bounded = [k for k in keys if k not in UNBOUNDED]
    panels = [(g, g is bounded) for g in (bounded, [k for k in keys if k in UNBOUNDED]) if g]
    widths = [len(group) for group, _ in panels]
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(2.5 + 0.6 * sum(widths) * (1 + len(runs) / 2), 4.5),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    width = 0.8 / len(runs)
    for ax, (group, is_score) in zip(axes[0], panels, strict=True):
        for i, run in enumerate(runs):
            shift = (i - (len(runs) - 1) / 2) * width
            present = [(j, run.metrics[k]) for j, k in enumerate(group) if k in run.metrics]
            xs, ys = [j + shift for j, _ in present], [v for _, v in present]
            bars = ax.bar(xs, ys, width, label=run.name, color=f"C{i}")
            ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_xticks(range(len(group)), group)
        if is_score:
            ax.set_ylim(0, 1.1)
            ax.set_ylabel("score")
        elif all(r.metrics.get(k, 1.0) > 0 for r in runs for k in group):
            ax.set_yscale("log")  # a loss of 0.01 and a perplexity of 300 on one axis
            ax.set_ylabel("loss / perplexity (log scale)")
        else:
            ax.set_ylabel("loss / perplexity")
    handles, labels = axes[0][0].get_legend_handles_labels()
    rows = -(-len(runs) // 3)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(runs), 3), fontsize=8)
    fig.suptitle("tunesmith eval compare")
    fig.tight_layout(rect=(0, 0.05 + 0.05 * rows, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
