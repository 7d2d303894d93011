"""Run directories as the UI shows them: read from what `tunesmith train` writes
(config.yaml, metrics.jsonl, train_summary.json, checkpoints/, adapter/ or model/) plus the
UI's job record when the UI launched it. Nothing here imports torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from tunesmith.ui import jobs
from tunesmith.ui.settings import Roots

MAX_DEPTH = 3
OUTPUT_NAMES = (
    "adapter",
    "model",
    "best",
    "eval",
    "merged",
    "loss_curve.png",
    "train_summary.json",
)


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / jobs.JOB).is_file()


def find_runs(roots: Roots) -> list[Path]:
    """Run directories below the runs root (not inside another run), newest first."""
    found: list[Path] = []

    def visit(path: Path, depth: int) -> None:
        try:
            children = sorted(
                p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        except OSError:
            return
        for child in children:
            if is_run_dir(child):
                found.append(child)
            elif depth < MAX_DEPTH:
                visit(child, depth + 1)

    if roots.runs.is_dir():
        visit(roots.runs, 1)
    return sorted(found, key=_mtime, reverse=True)


def _mtime(path: Path) -> float:
    times = [
        (path / n).stat().st_mtime
        for n in ("metrics.jsonl", jobs.JOB, "config.yaml")
        if (path / n).exists()
    ]
    return max(times, default=0.0)


def read_metrics(run_dir: Path) -> list[dict]:
    """metrics.jsonl records; a line cut short by a running writer is skipped."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def read_config(run_dir: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _summary_file(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "train_summary.json").read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class RunInfo:
    name: str  # path relative to the runs root
    path: str  # as the CLI is given it
    status: str
    recipe: str
    method: str
    model: str
    step: int
    total: int | None
    elapsed: float | None
    best: str
    command: str


def status_of(run_dir: Path, job: jobs.JobState | None = None) -> str:
    job = job or jobs.read_job(run_dir)
    if job.status != "none":
        return job.status
    if (run_dir / "train_summary.json").is_file():
        return "finished"
    return "interrupted" if (run_dir / "metrics.jsonl").is_file() else "failed"


def _best(records: list[dict], summary: dict[str, Any]) -> str:
    best = summary.get("best")
    if isinstance(best, dict) and best.get("value") is not None:
        return f"{best['metric']} {best['value']:.4g} @ {best['step']}"
    evals = [
        (r["eval_loss"], r["step"]) for r in records if isinstance(r.get("eval_loss"), int | float)
    ]
    if evals:
        value, step = min(evals)
        return f"eval_loss {value:.4g} @ {step}"
    return ""


def run_info(roots: Roots, run_dir: Path) -> RunInfo:
    job = jobs.read_job(run_dir)
    cfg, records, summary = read_config(run_dir), read_metrics(run_dir), _summary_file(run_dir)
    train = cfg.get("train") or {}
    total = summary.get("total_steps") or (train.get("max_steps") or None)
    if job.started is not None:
        elapsed = (
            job.ended or (time.time() if job.status == "running" else _mtime(run_dir))
        ) - job.started
    else:
        elapsed = summary.get("train_seconds")
    return RunInfo(
        name=str(run_dir.relative_to(roots.runs)),
        path=roots.display(run_dir),
        status=status_of(run_dir, job),
        recipe=str(cfg.get("recipe") or (cfg.get("train") or {}).get("recipe") or "sft"),
        method=str((cfg.get("method") or {}).get("name", "")),
        model=str((cfg.get("model") or {}).get("name_or_path", "")),
        step=records[-1]["step"] if records else 0,
        total=total,
        elapsed=elapsed,
        best=_best(records, summary),
        command=job.command or _reproduce(roots, run_dir),
    )


def _reproduce(roots: Roots, run_dir: Path) -> str:
    """A run the CLI made: its saved config reproduces it."""
    return f"tunesmith train {roots.display(run_dir / 'config.yaml')} train.resume=none output.overwrite=true"


def run_detail(roots: Roots, run_dir: Path) -> dict[str, Any]:
    info = asdict(run_info(roots, run_dir))
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*") if p.is_dir())
    outputs = [n for n in OUTPUT_NAMES if (run_dir / n).exists()]
    config_text = (
        (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else ""
    )
    return {
        **info,
        "config": config_text,
        "log": jobs.log_tail(run_dir),
        "checkpoints": ckpts,
        "outputs": outputs,
        "metrics": read_metrics(run_dir),
    }
