"""Group encoded samples into micro-batches.

Packed: samples are laid end to end in one row with position ids restarting at 0 for each
sample. transformers turns restarting position ids into a block-diagonal causal mask, so no
token attends across a sample boundary. Targets are shifted inside each sample before
concatenation, so no token is ever asked to predict the next sample's first token.

Unpacked: `batch_size` samples per micro-batch, right-padded to the longest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

IGNORE = -100


@dataclass
class Sample:
    """Model inputs and next-token targets of one sample (targets[i] is the label of ids[i+1])."""

    input_ids: list[int]
    targets: list[int]

    @classmethod
    def from_labels(cls, input_ids: list[int], labels: list[int]) -> Sample:
        return cls(list(input_ids), list(labels[1:]) + [IGNORE])

    @property
    def n_targets(self) -> int:
        return sum(t != IGNORE for t in self.targets)


class _Rooms:
    """Free room per bin in a max segment tree: the leftmost bin with room >= n in O(log n)."""

    def __init__(self, size: int) -> None:
        self.size = 1
        while self.size < max(1, size):
            self.size *= 2
        self.tree = [-1] * (2 * self.size)  # -1: no bin there yet

    def set(self, b: int, free: int) -> None:
        i = b + self.size
        self.tree[i] = free
        i //= 2
        while i:
            self.tree[i] = max(self.tree[2 * i], self.tree[2 * i + 1])
            i //= 2

    def first_fit(self, n: int) -> int:
        """Index of the leftmost bin with room for `n`, or -1."""
        if self.tree[1] < n:
            return -1
        i = 1
        while i < self.size:
            i = 2 * i if self.tree[2 * i] >= n else 2 * i + 1
        return i - self.size


def pack_bins(lengths: list[int], capacity: int) -> list[list[int]]:
    """First-fit decreasing: indices grouped so each group's total length <= capacity.

    Each item goes to the leftmost bin with room (a segment tree finds it), so packing n
    samples costs O(n log n) instead of first fit's O(n x bins) scan, with the same bins.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    room: list[int] = []
    rooms = _Rooms(len(lengths))
    for i in order:
        n = min(lengths[i], capacity)
        b = rooms.first_fit(n)
        if b < 0:
            b = len(bins)
            bins.append([])
            room.append(capacity)
        bins[b].append(i)
        room[b] -= n
        rooms.set(b, room[b])
    return bins


def plan_batches(
    samples: list[Sample], *, packing: bool, batch_tokens: int, batch_size: int, seed: int
) -> list[list[int]]:
    """Deterministic list of micro-batches (lists of sample indices) for one epoch."""
    rng = random.Random(seed)
    if packing:
        groups = pack_bins([len(s.input_ids) for s in samples], batch_tokens)
    else:
        idx = list(range(len(samples)))
        rng.shuffle(idx)
        groups = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    rng.shuffle(groups)
    return groups
