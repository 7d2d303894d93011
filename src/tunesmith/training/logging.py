"""Run metrics: metrics.jsonl (append, resume-safe), the trackers of output.report_to
(training/trackers.py: TensorBoard by default), a loss-curve PNG."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.log import to_log_file
from tunesmith.training.trackers import open_trackers

log = logging.getLogger("tunesmith.train")


class MetricsLogger:
    """metrics.jsonl on rank 0, and the same records to each tracker of output.report_to."""

    def __init__(
        self,
        run_dir: Path,
        *,
        trackers: list[str] | None = None,
        resume_step: int = 0,
        config: Config | None = None,
    ) -> None:
        self.path = run_dir / "metrics.jsonl"
        self._keep_only_until(resume_step)
        self._trackers = open_trackers(trackers or [], run_dir, config, resume_step=resume_step)

    def _keep_only_until(self, step: int) -> None:
        """On resume, drop records written after the checkpoint we restart from."""
        if not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path) if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def log(self, record: dict) -> None:
        # also a log record: into --log-file at the default level, on stderr at debug
        to_log_file(log, f"step {record['step']}", **record)
        with self.path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        scalars = {k: v for k, v in record.items() if k != "step" and isinstance(v, int | float)}
        for tracker in self._trackers:
            tracker.log(scalars, record["step"])

    def close(self) -> None:
        for tracker in self._trackers:
            tracker.close()

    def records(self) -> list[dict]:
        return read_metrics(self.path)


def plot_loss_curve(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss")
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (mean per target token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of `key` over metrics records, NaN values left out."""
    rows = [(r["step"], r[key]) for r in records if key in r and r[key] == r[key]]
    return [s for s, _ in rows], [v for _, v in rows]


def read_metrics(path: Path) -> list[dict]:
    """Records of a metrics.jsonl; a last line cut short by a killed process is ignored."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
