"""`tunesmith bench data`: near dedupe against the plain datasketch loop, side by side.

    tunesmith bench data --json bench_data.json

Both arms deduplicate the same generated chat corpus (see `data.curate.synth`) with planted
near duplicates at a measured word 5-gram Jaccard in [0.8, 0.95] and distractors in [0.5, 0.7]
(similar but below the threshold, so they must stay). Same words (lower-cased `\\w+`), same
5-gram shingles, 128 permutations, threshold 0.8.

- baseline: what a user writes with datasketch: per record `MinHash(num_perm=128)`, `update()`
  per shingle, then `MinHashLSH(threshold=0.8, num_perm=128).query()`; a record with a result
  is a duplicate, else it is `insert()`ed.
- tunesmith: the `near_dedupe` step (vectorised signatures, band keys, candidate pairs, true
  Jaccard re-check), in one process and in one process per CPU.

Reported per arm: records/s over the whole dedupe (hashing to decisions), wall and CPU seconds,
the speedup over the baseline, and precision / recall against the planted duplicates (recall
also per Jaccard band).
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunesmith.data.curate.dedupe import NearDedupe
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import NearDedupeOptions
from tunesmith.data.curate.synth import CorpusSpec, make_corpus
from tunesmith.progress import status
from tunesmith.records import Conversation

WORD = re.compile(r"\w+")
BANDS = ((0.8, 0.85), (0.85, 0.9), (0.9, 1.0001))


def baseline_dedupe(texts: list[str], threshold: float, num_perm: int, ngram: int) -> set[int]:
    """The plain datasketch loop; returns the indices judged duplicates."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    dups = set()
    for i, text in enumerate(texts):
        words = WORD.findall(text.lower())
        grams = {" ".join(words[j : j + ngram]) for j in range(max(1, len(words) - ngram + 1))}
        m = MinHash(num_perm=num_perm)
        for gram in grams:
            m.update(gram.encode("utf-8"))
        if lsh.query(m):
            dups.add(i)
        else:
            lsh.insert(i, m)
    return dups


class _ListRecords:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __iter__(self):  # noqa: ANN204 - protocol method
        return (self._item(i) for i in range(len(self.texts)))

    def _item(self, i: int) -> Item:
        return Item(Conversation(text=self.texts[i], source=f"doc:{i}"), i)

    def pick(self, indices: Any) -> Iterator[tuple[int, Item]]:
        return ((i, self._item(i)) for i in sorted(set(indices)))


def tunesmith_dedupe(texts: list[str], options: NearDedupeOptions) -> set[int]:
    """The near_dedupe step over `texts`; returns the indices it drops."""
    step = NearDedupe(options, Path("."))
    records = _ListRecords(texts)
    try:
        for i, item in enumerate(records):
            step.observe(item, i)
        step.finish(records)
    finally:
        step.close()
    return set(step.dup_of)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Any, *args: Any) -> tuple[set[int], float, float]:
    wall, cpu = time.perf_counter(), _cpu()
    found = fn(*args)
    return found, time.perf_counter() - wall, _cpu() - cpu


def score(found: set[int], truth: dict[int, tuple[int, float]]) -> dict[str, Any]:
    hits = found & set(truth)
    out: dict[str, Any] = {
        "flagged": len(found),
        "true_positives": len(hits),
        "precision": len(hits) / len(found) if found else 1.0,
        "recall": len(hits) / len(truth) if truth else 1.0,
    }
    for low, high in BANDS:
        members = {i for i, (_, j) in truth.items() if low <= j < high}
        key = f"recall_j{low:.2f}-{min(high, 1.0):.2f}"
        out[key] = len(members & found) / len(members) if members else None
    return out


def run_bench(
    json_path: str | None = None,
    *,
    docs: int = 20_000,
    processes: int = 0,
    seed: int = 0,
    quiet: bool = False,
) -> dict[str, Any]:
    """Generate the corpus, run the three arms, print the table; return the report."""
    from rich.console import Console

    console = Console(quiet=quiet)
    spec = CorpusSpec(records=docs, near_dups=docs // 10, distractors=docs // 20)
    with status("bench data: generating the corpus", console):
        corpus = make_corpus(spec, seed=seed)
    texts = ["\n\n".join(m["content"] for m in r["messages"]) for r in corpus.records]
    truth = corpus.truth.near_dups
    processes = processes or os.cpu_count() or 1
    arms: dict[str, dict[str, Any]] = {}
    plan = [
        ("datasketch loop", baseline_dedupe, (texts, 0.8, 128, 5)),
        ("tunesmith 1 proc", tunesmith_dedupe, (texts, NearDedupeOptions(processes=1))),
        (
            f"tunesmith {processes} procs",
            tunesmith_dedupe,
            (texts, NearDedupeOptions(processes=processes)),
        ),
    ]
    for name, fn, args in plan:
        with status(f"bench data: {name} on {len(texts):,} records", console):
            found, wall, cpu = _timed(fn, *args)
        arms[name] = {
            "seconds": wall,
            "cpu_seconds": cpu,
            "records_per_s": len(texts) / wall,
            **score(found, truth),
        }
    base = arms["datasketch loop"]["records_per_s"]
    for arm in arms.values():
        arm["speedup"] = arm["records_per_s"] / base
    report = {
        "arms": arms,
        "settings": {
            "records": len(texts),
            "planted_near_duplicates": len(truth),
            "planted_distractors": len(corpus.truth.distractors),
            "words_per_record": f"{spec.min_words}-{spec.max_words} answer + 10-24 question",
            "ngram": 5,
            "num_perm": 128,
            "threshold": 0.8,
            "seed": seed,
            "processes": processes,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        },
    }
    print_bench(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    return report


ROWS = (
    ("records/s", "records_per_s", "{:,.0f}"),
    ("speedup", "speedup", "{:.1f}x"),
    ("wall s", "seconds", "{:.2f}"),
    ("CPU s (+ workers)", "cpu_seconds", "{:.2f}"),
    ("flagged", "flagged", "{:,}"),
    ("precision", "precision", "{:.4f}"),
    ("recall", "recall", "{:.4f}"),
    ("recall J .80-.85", "recall_j0.80-0.85", "{:.4f}"),
    ("recall J .85-.90", "recall_j0.85-0.90", "{:.4f}"),
    ("recall J .90-1", "recall_j0.90-1.00", "{:.4f}"),
)


def print_bench(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    s = report["settings"]
    table = Table(
        title=f"bench data: near dedupe of {s['records']:,} records, "
        f"{s['planted_near_duplicates']:,} planted near duplicates"
    )
    table.add_column("metric")
    for name in report["arms"]:
        table.add_column(name, justify="right")
    for label, key, fmt in ROWS:
        cells = [a.get(key) for a in report["arms"].values()]
        table.add_row(label, *("-" if c is None else fmt.format(c) for c in cells))
    console.print(table)
