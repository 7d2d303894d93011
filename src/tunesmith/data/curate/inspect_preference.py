"""`tunesmith data inspect` on preference files: pairs (or KTO labels), answer lengths of
chosen vs rejected, identical pairs and duplicates, before training on them.

Chosen / rejected lengths are answer tokens (what a preference loss scores); `sequence`
lengths are prompt + answer with the chat template, as the recipe packs them. Identical pairs
(chosen == rejected) teach nothing and make every loss constant; they are counted, not dropped.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tunesmith.data.curate.inspect import _fmt, _spread
from tunesmith.data.preference import is_preference_record, load_preference
from tunesmith.data.sources import expand_paths, iter_records


def looks_like_preference(paths: list[str]) -> bool:
    """True when the first record of the first file carries chosen / rejected / completion."""
    for path in expand_paths(paths):
        for record in iter_records(path):
            return record.error is None and is_preference_record(record.data)
    return False


def inspect_preference(
    paths: list[str], *, max_len: int = 1024, tokenizer: str | None = None, tokens: bool = True
) -> dict[str, Any]:
    data = load_preference(paths, on_error="skip")
    records = data.records
    files: dict[str, Counter] = {}
    for rec in records:
        files.setdefault(rec.source.rsplit(":", 1)[0], Counter())[rec.format] += 1
    keys = [(tuple((m.role, m.content) for m in r.prompt), r.chosen, r.rejected) for r in records]
    report: dict[str, Any] = {
        "files": {f: dict(c) for f, c in files.items()},
        "records": data.records_in,
        "valid": len(records),
        "invalid": data.rejected_by_reason,
        "kind": "paired" if data.paired else "unpaired (kto)",
        "identical_pairs": sum(r.paired and r.chosen == r.rejected for r in records),
        "duplicates": len(keys) - len(set(map(repr, keys))),
    }
    if not data.paired:
        report["labels"] = {
            "desirable": sum(bool(r.desirable) for r in records),
            "undesirable": sum(not r.desirable for r in records),
        }
    if tokens and records:
        from tunesmith.tokenize.preference import encode_answer
        from tunesmith.tokenize.templates import load_tokenizer

        tok = load_tokenizer(tokenizer)
        chosen, rejected, seqs = [], [], []
        for r in records:
            for answer, out in ((r.chosen, chosen), (r.rejected, rejected)):
                if answer is None:
                    continue
                enc = encode_answer(tok, r.prompt, answer, 10**9)
                if enc is not None:
                    out.append(enc[0].n_targets)
                    seqs.append(len(enc[0].input_ids))
        names = ("chosen", "rejected") if data.paired else ("completion", "rejected")
        report["answer_tokens"] = {names[0]: _spread(chosen)}
        if rejected:
            report["answer_tokens"]["rejected"] = _spread(rejected)
            report["chosen_longer"] = sum(c > r for c, r in zip(chosen, rejected, strict=False))
        report["sequence_tokens"] = {**_spread(seqs), "total": sum(seqs)}
        report["max_len"], report["over_max_len"] = max_len, sum(n > max_len for n in seqs)
    return report


def print_preference_inspection(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title="data inspect (preference)", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for file, formats in report["files"].items():
        table.add_row(f"format of {file}", ", ".join(f"{k} ({v:,})" for k, v in formats.items()))
    table.add_row("records read", f"{report['records']:,}")
    table.add_row("valid", f"{report['valid']:,} ({report['kind']})")
    bad = report["invalid"]
    table.add_row("invalid", ", ".join(f"{k} {v:,}" for k, v in bad.items()) or "0")
    if "labels" in report:
        table.add_row("labels", ", ".join(f"{k} {v:,}" for k, v in report["labels"].items()))
    for name, spread in report.get("answer_tokens", {}).items():
        table.add_row(f"{name} answer tokens", _fmt(spread))
    if "chosen_longer" in report:
        valid = max(report["valid"], 1)
        table.add_row("chosen longer than rejected", f"{report['chosen_longer'] / valid:.1%}")
    if "sequence_tokens" in report:
        table.add_row("tokens per sequence", _fmt(report["sequence_tokens"]))
        table.add_row(f"over max_len {report['max_len']}", f"{report['over_max_len']:,}")
    table.add_row("identical pairs (chosen == rejected)", f"{report['identical_pairs']:,}")
    table.add_row("duplicate records", f"{report['duplicates']:,}")
    console.print(table)


def preference_report(settings: Any, console: Any) -> dict[str, Any]:
    """The `data inspect` CLI's path for preference files (`DataInspectSettings`): report,
    printed."""
    s = settings
    report = inspect_preference(s.files, max_len=s.max_len, tokenizer=s.tokenizer, tokens=s.tokens)
    print_preference_inspection(report, console)
    return report
