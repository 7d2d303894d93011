"""What a pipeline step is, and how its records are counted.

A step sees records one at a time in `apply(item, index)` and returns the item (possibly
changed), a `Drop` (with a reason code and a message for rejects.jsonl), or a list whose first
entry is the item and whose others are new records it adds. A *global* step (near dedupe,
balance, split, paraphrase) needs every record before it can decide: in the pass before it the
pipeline calls `observe(item, index)` on each record that reaches it and keeps the records in a
spill file, then calls `finish(spill)`, then replays the spill through `apply` with the same
indices. `extra()` yields records a step makes from nothing (template filling) after its last
input record.

Per step: records_in + added == records_out + sum(dropped.values()).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunesmith.data.curate.items import Item


@dataclass
class Drop:
    reason: str
    message: str


Result = Item | list[Item] | Drop


class Records(Protocol):
    """A spill file: replayable records, and some of them by index for `finish`."""

    def __iter__(self) -> Iterator[Item]: ...

    def pick(self, indices: Iterable[int]) -> Iterator[tuple[int, Item]]:
        """(index, record) for each of `indices`, in index order, one at a time."""
        ...


class Step:
    """Base with no-op defaults; subclasses set `name` and override what they need."""

    name = ""
    global_pass = False

    def observe(self, item: Item, index: int) -> None:
        """Called for every record reaching a global step, in the pass before it."""

    def finish(self, records: Records) -> None:
        """Called once between the observing pass and the applying pass."""

    def apply(self, item: Item, index: int | None) -> Result:
        return item

    def extra(self) -> Iterable[Item]:
        return ()

    def summary(self) -> dict[str, Any]:
        """Step-specific numbers for report.json (PII counts per kind, class counts, ...)."""
        return {}

    def close(self) -> None:
        """Release processes, files, connections."""


@dataclass
class StepStats:
    name: str
    records_in: int = 0
    records_out: int = 0
    added: int = 0
    dropped: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "records_in": self.records_in,
            "dropped": dict(sorted(self.dropped.items())),
            "added": self.added,
            "records_out": self.records_out,
        }
