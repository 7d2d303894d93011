"""Class balancing on a top-level record field (label, domain, ...), seeded.

- `undersample`: every class keeps as many records as the smallest class (reason `undersampled`);
- `oversample`: every class grows to the largest class with copies of its own records, tagged
  origin `oversample` (each record repeated evenly, the remainder drawn without replacement);
- `cap`: a class with more than `cap` records keeps `cap` of them (reason `over_cap`).

Which records stay is a seeded uniform draw within each class. Records without the field are
dropped (reason `no_label`) or, with `missing: keep`, form one more class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.base import Drop, Records, Result, Step
from tunesmith.data.curate.items import Item, clone
from tunesmith.data.curate.options import BalanceOptions

MISSING = "(missing)"


def class_of(item: Item, field: str) -> str | None:
    value = item.label(field)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class Balance(Step):
    name = "balance"
    global_pass = True

    def __init__(self, options: BalanceOptions, work: Path) -> None:
        self.o = options
        self.classes: dict[str, int] = {}
        self.codes: list[int] = []
        self.copies = np.zeros(0, dtype=np.int64)  # per index: -1 drop, else extra copies
        self.before: dict[str, int] = {}
        self.after: dict[str, int] = {}

    def observe(self, item: Item, index: int) -> None:
        name = class_of(item, self.o.field)
        if name is None:
            name = MISSING if self.o.missing == "keep" else None
        self.codes.append(-1 if name is None else self.classes.setdefault(name, len(self.classes)))

    def finish(self, records: Records) -> None:
        codes = np.asarray(self.codes, dtype=np.int64)
        self.codes = []
        rng = np.random.default_rng(self.o.seed)
        counts = np.bincount(codes[codes >= 0], minlength=len(self.classes))
        target = {
            "undersample": int(counts.min()) if len(counts) else 0,
            "oversample": int(counts.max()) if len(counts) else 0,
            "cap": self.o.cap or 0,
        }[self.o.mode]
        copies = np.full(len(codes), -1, dtype=np.int64)
        names = list(self.classes)
        for code, name in enumerate(names):
            members = np.flatnonzero(codes == code)
            n = len(members)
            self.before[name] = n
            if n > target:
                copies[rng.choice(members, size=target, replace=False)] = 0
                self.after[name] = target
            elif self.o.mode == "oversample":
                copies[members] = target // n - 1
                copies[rng.choice(members, size=target % n, replace=False)] += 1
                self.after[name] = target
            else:
                copies[members] = 0
                self.after[name] = n
        self.copies = copies

    def apply(self, item: Item, index: int | None) -> Result:
        assert index is not None
        extra = int(self.copies[index])
        if extra < 0:
            name = class_of(item, self.o.field)
            if name is None and self.o.missing == "drop":
                return Drop("no_label", f"record has no field '{self.o.field}'")
            if self.o.mode == "undersample":
                return Drop("undersampled", f"class '{name}' undersampled")
            return Drop("over_cap", f"class '{name}' over the cap of {self.o.cap}")
        if extra == 0:
            return item
        return [item] + [clone(item, "oversample") for _ in range(extra)]

    def summary(self) -> dict[str, Any]:
        return {
            "field": self.o.field,
            "mode": self.o.mode,
            "classes_before": self.before,
            "classes_after": self.after,
        }
