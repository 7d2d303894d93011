"""Split into train / validation / test: seeded, stratified on a field when asked, by group.

Records that come from one input record (its augmented and oversampled copies) form a group and
land in the same split, so no copy of a test record is trained on. Within each stratum (each
value of `stratify`, or all records) the groups are shuffled with `seed`; the first
round(n * test) go to test, the next round(n * validation) to validation, the rest to train
(n = groups in the stratum, halves rounded up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.balance import class_of
from tunesmith.data.curate.base import Records, Result, Step
from tunesmith.data.curate.items import Item
from tunesmith.data.curate.options import SplitOptions

SPLITS = ("train", "validation", "test")


def _share(n: int, fraction: float) -> int:
    return int(n * fraction + 0.5)


class Split(Step):
    name = "split"
    global_pass = True

    def __init__(self, options: SplitOptions, work: Path) -> None:
        self.o = options
        self.roots: list[int] = []
        self.strata: dict[str, int] = {}
        self.codes: list[int] = []
        self.assignment = np.zeros(0, dtype=np.int8)
        self.counts: dict[str, dict[str, int]] = {}

    def observe(self, item: Item, index: int) -> None:
        self.roots.append(item.root)
        name = class_of(item, self.o.stratify) if self.o.stratify else None
        name = "(all)" if not self.o.stratify else (name if name is not None else "(missing)")
        self.codes.append(self.strata.setdefault(name, len(self.strata)))

    def finish(self, records: Records) -> None:
        roots = np.asarray(self.roots, dtype=np.int64)
        codes = np.asarray(self.codes, dtype=np.int64)
        self.roots, self.codes = [], []
        groups, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
        group_code = codes[first]
        group_split = np.zeros(len(groups), dtype=np.int8)
        rng = np.random.default_rng(self.o.seed)
        for code in range(len(self.strata)):
            members = np.flatnonzero(group_code == code)
            # shuffle in first-seen order, so the result does not depend on root values
            members = members[np.argsort(first[members], kind="stable")]
            members = members[rng.permutation(len(members))]
            n_test, n_val = (
                _share(len(members), self.o.test),
                _share(len(members), self.o.validation),
            )
            group_split[members[:n_test]] = 2
            group_split[members[n_test : n_test + n_val]] = 1
        self.assignment = group_split[inverse]
        for code, name in enumerate(self.strata):
            in_stratum = self.assignment[codes == code]
            self.counts[name] = {s: int((in_stratum == i).sum()) for i, s in enumerate(SPLITS)}

    def apply(self, item: Item, index: int | None) -> Result:
        assert index is not None
        item.split = SPLITS[int(self.assignment[index])]
        return item

    def summary(self) -> dict[str, Any]:
        return {"stratify": self.o.stratify, "seed": self.o.seed, "strata": self.counts}
