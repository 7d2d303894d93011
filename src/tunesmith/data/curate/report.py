"""The prepare report: counts that reconcile, per step and in all, as JSON and as a table.

    records_in == records_out + sum(dropped.values()) - added

`records_in` counts every input record read (bad ones included), `dropped` every record removed,
by reason (validation reasons such as invalid_json included), `added` every record a step made
(augmented copies, template records, oversampled copies).
"""

from __future__ import annotations

import contextlib
import json
import resource
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunesmith.data.curate.base import StepStats


@dataclass
class Report:
    records_in: int
    records_out: int
    dropped: dict[str, int]
    added: int
    steps: list[dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    rejects: str
    seconds: float = 0.0
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.records_in == self.records_out + sum(self.dropped.values()) - self.added

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path


def build_report(
    stats: list[StepStats],
    summaries: dict[str, dict[str, Any]],
    outputs: dict[str, dict[str, Any]],
    rejects: Path,
) -> Report:
    dropped: Counter[str] = Counter()
    for s in stats:
        dropped.update(s.dropped)
    steps = [{**s.as_dict(), **summaries.get(s.name, {})} for s in stats]
    report = Report(
        records_in=stats[0].records_in,
        records_out=sum(o["records"] for o in outputs.values()),
        dropped=dict(sorted(dropped.items())),
        added=sum(s.added for s in stats),
        steps=steps,
        outputs=outputs,
        rejects=str(rejects),
    )
    if not report.reconciles:  # a bug in a step, never the user's input
        raise RuntimeError(f"prepare: counts do not reconcile: {report.to_dict()}")
    return report


def _reasons(dropped: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n:,}" for reason, n in dropped.items())


def print_report(report: Report, console: Any) -> None:
    from rich.table import Table

    table = Table(title="data prepare")
    for name, justify in (
        ("step", "left"),
        ("in", "right"),
        ("dropped", "right"),
        ("reasons", "left"),
        ("added", "right"),
        ("out", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in report.steps:
        table.add_row(
            s["step"],
            f"{s['records_in']:,}",
            f"{sum(s['dropped'].values()):,}",
            _reasons(s["dropped"]),
            f"{s['added']:,}",
            f"{s['records_out']:,}",
        )
    console.print(table)
    files = ", ".join(f"{name} {o['records']:,}" for name, o in report.outputs.items())
    console.print(
        f"records in {report.records_in:,} = out {report.records_out:,} + dropped "
        f"{sum(report.dropped.values()):,} - added {report.added:,}   ({files})"
    )


class TreeRss:
    """Samples the RSS of this process plus its children (hashing workers) twice a second."""

    def __init__(self) -> None:
        import psutil

        self.peak, self._stop = 0, threading.Event()
        self._me = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self._me, *self._me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.5)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {
            "main_peak_rss_mb": round(own, 1),
            "largest_child_peak_rss_mb": round(child, 1),
            "tree_peak_rss_mb_sampled": round(self.peak / 2**20, 1),
        }
