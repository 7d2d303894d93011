"""The report of `tunesmith bench serve`: ratios per concurrency, and one rich table each."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

ROWS = (
    ("requests", "requests", "{:,}"),
    ("errors", "errors", "{:,}"),
    ("output tokens", "output_tokens", "{:,}"),
    ("output tokens / s", "output_tokens_per_s", "{:,.0f}"),
    ("TTFT p50 ms", "ttft_ms_p50", "{:,.1f}"),
    ("TTFT p99 ms", "ttft_ms_p99", "{:,.1f}"),
    ("inter-token p50 ms", "itl_ms_p50", "{:,.2f}"),
    ("inter-token p99 ms", "itl_ms_p99", "{:,.2f}"),
    ("time / output token p50 ms", "tpot_ms_p50", "{:,.2f}"),
    ("time / output token p99 ms", "tpot_ms_p99", "{:,.2f}"),
    ("events / request", "events_per_request", "{:,.1f}"),
    ("end-to-end p50 ms", "e2e_ms_p50", "{:,.0f}"),
    ("end-to-end p99 ms", "e2e_ms_p99", "{:,.0f}"),
)
LABELS = {
    "tunesmith": "tunesmith (HTTP)",
    "generate_batch": "generate_batch",
    "sequential": "sequential",
}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if a and b else None


def ratios(entry: dict) -> dict:
    """tunesmith's output tokens/s over each baseline's (None when a baseline has none)."""
    ours = entry["tunesmith"]["output_tokens_per_s"]
    return {
        "speedup_vs_generate_batch": _ratio(ours, entry["generate_batch"]["output_tokens_per_s"]),
        "speedup_vs_sequential": _ratio(ours, entry["sequential"]["output_tokens_per_s"]),
    }


def _cell(fmt: str, value: object) -> str:
    return "-" if value is None else fmt.format(value)


def print_report(report: dict, console: Console) -> None:
    s = report["settings"]
    for c, entry in report["concurrency"].items():
        table = Table(
            title=f"bench serve: {s['model']}, concurrency {c}, {s['requests'][c]} requests x "
            f"{s['max_tokens']} tokens, arrivals {s['arrival_rate_per_s'][c]:g}/s"
        )
        table.add_column("metric")
        for arm in LABELS.values():
            table.add_column(arm, justify="right")
        for label, key, fmt in ROWS:
            table.add_row(label, *(_cell(fmt, entry[arm][key]) for arm in LABELS))
        console.print(table)
        same = entry["same_output_as_sequential"]
        gb, seq = entry["speedup_vs_generate_batch"], entry["speedup_vs_sequential"]
        console.print(
            f"concurrency {c}: tunesmith {_cell('{:.2f}x', gb)} generate_batch, "
            f"{_cell('{:.2f}x', seq)} sequential (output tokens/s); outputs equal to "
            f"sequential: tunesmith {same['tunesmith']}/{entry['tunesmith']['requests']}, "
            f"generate_batch {same['generate_batch']}/{entry['generate_batch']['requests']}"
        )
        for arm in LABELS:
            if entry[arm]["first_error"]:
                console.print(f"[red]{arm}: first error: {entry[arm]['first_error']}[/red]")
