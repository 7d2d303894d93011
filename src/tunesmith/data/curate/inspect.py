"""`tunesmith data inspect FILE...`: what is in a dataset, before preparing it.

Reports the detected format per file, record counts (bad records by reason), role and turn
counts, token lengths with the model's tokenizer (table + PNG histogram), how many records a
given `max_len` would truncate, label / domain distributions, and the exact and near duplicates
that `data prepare`'s dedupe steps (default settings) would drop from the raw input.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.base import Drop, StepStats
from tunesmith.data.curate.dedupe import ExactDedupe, NearDedupe
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import ExactDedupeOptions, InputOptions, NearDedupeOptions
from tunesmith.data.curate.reader import read_items

LABEL_FIELDS = ("label", "domain", "category", "task", "language")
TOKEN_BATCH = 512


class InputRecords:
    """The valid records of the input files, replayable and pickable by index."""

    def __init__(self, options: InputOptions) -> None:
        self.options = options

    def __iter__(self) -> Iterator[Item]:
        return read_items(self.options, StepStats("read"), lambda *_: None)

    def pick(self, indices: Iterable[int]) -> Iterator[tuple[int, Item]]:
        wanted = set(indices)
        return ((i, item) for i, item in enumerate(self) if i in wanted)


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {
        "min": int(a.min()),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": int(a.max()),
        "mean": round(float(a.mean()), 2),
    }


class _Tokens:
    def __init__(self, tokenizer: str | None) -> None:
        from tunesmith.tokenize.templates import load_tokenizer, render

        self.tok, self.render, self.lengths, self.batch = load_tokenizer(tokenizer), render, [], []

    def add(self, item: Item) -> None:
        self.batch.append(self.render(item.conv))
        if len(self.batch) >= TOKEN_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            ids = self.tok(self.batch, add_special_tokens=False)["input_ids"]
            self.lengths += [len(x) for x in ids]
            self.batch = []


def plot_lengths(lengths: list[int], max_len: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(lengths, bins=min(60, max(5, len(set(lengths)))), color="#4472c4")
    ax.axvline(max_len, color="#c00000", linestyle="--", label=f"max_len {max_len}")
    ax.set_xlabel("tokens per record (chat template applied)")
    ax.set_ylabel("records")
    ax.set_title(f"token lengths of {len(lengths):,} records")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def inspect_data(
    paths: list[str],
    *,
    fmt: str = "auto",
    max_len: int = 1024,
    tokenizer: str | None = None,
    label_fields: list[str] | None = None,
    plot: str | Path | None = None,
    tokens: bool = True,
) -> dict[str, Any]:
    """Inspect `paths`; returns the report (see module docstring), writes the plot if asked."""
    options = InputOptions(paths=[str(p) for p in paths], format=fmt, on_error="skip")
    stats = StepStats("read")
    invalid: Counter[str] = Counter()
    files: dict[str, Counter] = {}
    roles: Counter[str] = Counter()
    turns: list[int] = []
    kinds: Counter[str] = Counter()
    labels: dict[str, Counter] = {}
    exact = ExactDedupe(ExactDedupeOptions(), Path("."))
    exact_dups: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        near = NearDedupe(NearDedupeOptions(processes=1), Path(tmp))
        counter = _Tokens(tokenizer) if tokens else None
        reject = lambda record, reason, message: invalid.update([reason])  # noqa: E731
        for index, item in enumerate(read_items(options, stats, reject)):
            file = item.source.rsplit(":", 1)[0]
            files.setdefault(file, Counter())[item.conv.meta.get("format", "?")] += 1
            kinds["text" if item.conv.is_text else "chat"] += 1
            roles.update(m.role for m in item.conv.messages)
            if not item.conv.is_text:
                turns.append(sum(m.role != "system" for m in item.conv.messages))
            for name in label_fields or [f for f in LABEL_FIELDS if f in item.extras]:
                value = item.extras.get(name)
                labels.setdefault(name, Counter())[
                    json.dumps(value) if not isinstance(value, str) else value
                ] += 1
            if isinstance(exact.apply(item, None), Drop):
                exact_dups.add(index)
            near.observe(item, index)
            if counter is not None:
                counter.add(item)
        near.finish(InputRecords(options))
    report: dict[str, Any] = {
        "files": {f: dict(c) for f, c in files.items()},
        "records": stats.records_in,
        "valid": stats.records_out,
        "invalid": dict(sorted(invalid.items())),
        "kinds": dict(kinds),
        "roles": dict(roles),
        "turns_per_conversation": _spread(turns),
        "labels": {k: dict(v.most_common()) for k, v in labels.items()},
        "duplicates": {
            "exact": len(exact_dups),
            "near": len(set(near.dup_of) - exact_dups),
            "near_threshold": near.o.threshold,
        },
    }
    if counter is not None:
        counter.flush()
        over = sum(n > max_len for n in counter.lengths)
        report["tokens"] = {**_spread(counter.lengths), "total": sum(counter.lengths)}
        report["max_len"] = max_len
        report["over_max_len"] = over
        if plot is not None and counter.lengths:
            report["plot"] = str(plot_lengths(counter.lengths, max_len, Path(plot)))
    return report


def print_inspection(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="data inspect", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for file, formats in report["files"].items():
        table.add_row(f"format of {file}", ", ".join(f"{k} ({v:,})" for k, v in formats.items()))
    table.add_row("records read", f"{report['records']:,}")
    table.add_row("valid", f"{report['valid']:,}")
    bad = report["invalid"]
    table.add_row("invalid", ", ".join(f"{k} {v:,}" for k, v in bad.items()) or "0")
    table.add_row(
        "chat / text", " / ".join(str(report["kinds"].get(k, 0)) for k in ("chat", "text"))
    )
    table.add_row("messages by role", ", ".join(f"{k} {v:,}" for k, v in report["roles"].items()))
    spread = report["turns_per_conversation"]
    if spread:
        table.add_row("turns per conversation", _fmt(spread))
    if "tokens" in report:
        table.add_row("tokens per record", _fmt(report["tokens"]))
        over, valid = report["over_max_len"], max(report["valid"], 1)
        table.add_row(f"over max_len {report['max_len']}", f"{over:,} ({over / valid:.1%})")
    for name, counts in report["labels"].items():
        shown = list(counts.items())[:12]
        more = f" (+{len(counts) - 12} more)" if len(counts) > 12 else ""
        table.add_row(f"{name}", ", ".join(f"{k} {v:,}" for k, v in shown) + more)
    d = report["duplicates"]
    table.add_row("exact duplicates", f"{d['exact']:,}")
    table.add_row(f"near duplicates (Jaccard >= {d['near_threshold']})", f"{d['near']:,}")
    console.print(table)
    if "plot" in report:
        console.print(f"token length histogram: {report['plot']}")


def _fmt(spread: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {v:,.4g}" if isinstance(v, float) else f"{k} {v:,}" for k, v in spread.items()
    )


__all__ = ["inspect_data", "print_inspection"]
