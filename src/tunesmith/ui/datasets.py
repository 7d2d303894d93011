"""Data page: a dataset file's format, counts and token lengths (`data inspect`'s report),
and the first records rendered through the chat template with the trained tokens marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREVIEW = 3
HISTOGRAM_RECORDS = 5000
BINS = 20


def inspect_file(path: Path, max_len: int = 1024) -> dict[str, Any]:
    """The `data inspect` report of one file, plus a token-length histogram and a preview."""
    from tunesmith.data.curate.inspect import inspect_data

    report = inspect_data([str(path)], max_len=max_len, plot=None, tokens=True)
    formats: dict[str, int] = {}
    for counts in report["files"].values():
        for fmt, n in counts.items():
            formats[fmt] = formats.get(fmt, 0) + n
    lengths, preview = _lengths_and_preview(path)
    return {
        "report": report,
        "formats": formats,
        "histogram": histogram(lengths),
        "preview": preview,
    }


def _lengths_and_preview(path: Path) -> tuple[list[int], list[dict[str, Any]]]:
    from tunesmith.data.formats import convert
    from tunesmith.data.sources import iter_records
    from tunesmith.errors import TunesmithError
    from tunesmith.tokenize.templates import load_tokenizer, render_segments

    tok = load_tokenizer()
    lengths: list[int] = []
    preview: list[dict[str, Any]] = []
    for record in iter_records(path):
        if len(lengths) >= HISTOGRAM_RECORDS:
            break
        if record.error is not None:
            continue
        try:
            fmt, conv = convert(record.data)
        except TunesmithError:
            continue
        segments = render_segments(conv)
        lengths.append(
            len(tok("".join(s.text for s in segments), add_special_tokens=False)["input_ids"])
        )
        if len(preview) < PREVIEW:
            preview.append(
                {
                    "line": record.line,
                    "format": fmt,
                    # the first segment (bos) is never trained (tokenize/masking.py)
                    "segments": [
                        {"text": s.text, "trained": bool(k and s.trainable)}
                        for k, s in enumerate(segments)
                    ],
                }
            )
    return lengths, preview


def histogram(lengths: list[int], bins: int = BINS) -> list[dict[str, int]]:
    """Equal-width bins over [min, max] as {lo, hi, count} (hi inclusive on the last bin)."""
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    width = max(1, -(-(hi - lo + 1) // bins))
    counts = [0] * (-(-(hi - lo + 1) // width))
    for n in lengths:
        counts[(n - lo) // width] += 1
    return [
        {"lo": lo + i * width, "hi": lo + (i + 1) * width - 1, "count": c}
        for i, c in enumerate(counts)
    ]
