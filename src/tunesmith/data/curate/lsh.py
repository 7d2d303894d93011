"""LSH over band keys: parameters, candidate pairs, and hashing in worker processes.

Bands and rows: with `verify` on (candidates are re-checked with their true Jaccard, so false
candidates cost time but never precision) rows are the most whose b = num_perm // rows bands
still make a pair at exactly the threshold a candidate with probability >= 0.95, the recall
target; `1 - (1 - t^r)^b`. With `verify` off, datasketch's own choice
(`MinHashLSH(threshold, num_perm)`: minimal equal-weight false positive + false negative
area) is used, since then every candidate counts as a duplicate.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from tunesmith.data.curate.minhash import MinHasher, band_keys

RECALL_AT_THRESHOLD = 0.95


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - similarity**rows) ** bands


def lsh_params(threshold: float, num_perm: int, verify: bool) -> tuple[int, int]:
    """(bands, rows) for a Jaccard threshold and permutation count (see module docstring)."""
    if not verify:
        from datasketch.lsh import _optimal_param

        return _optimal_param(threshold, num_perm, 0.5, 0.5)
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= RECALL_AT_THRESHOLD:
            return bands, rows
    return num_perm, 1


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """(pairs, 2) int64 array of index pairs (i < j), unique, sharing a band key.

    Within a bucket of equal keys (sorted by index), each member is paired with the bucket's
    first member and with the member before it; key 0 (texts without words) never pairs.
    """
    found = []
    for column in keys.T:
        order = np.argsort(column, kind="stable")  # equal keys keep index order
        values = column[order]
        later = np.flatnonzero((values[1:] == values[:-1]) & (values[1:] != 0)) + 1
        if len(later) == 0:
            continue
        is_start = np.ones(len(values), dtype=bool)
        is_start[1:] = values[1:] != values[:-1]
        head = np.maximum.accumulate(np.where(is_start, np.arange(len(values)), 0))
        found.append(np.stack([order[later - 1], order[later]], axis=1))
        found.append(np.stack([order[head[later]], order[later]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0).astype(np.int64)


def _start_method() -> multiprocessing.context.BaseContext:
    """fork on Linux: workers start at once and need no `if __name__ == "__main__"` guard in the
    caller's script (they only run numpy); spawn elsewhere."""
    fork = sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if fork else "spawn")


_worker: MinHasher | None = None
_worker_bands: tuple[int, int] = (0, 0)


def _init_worker(ngram: int, num_perm: int, seed: int, bands: int, rows: int) -> None:
    global _worker, _worker_bands
    _worker, _worker_bands = MinHasher(ngram, num_perm, seed), (bands, rows)


def _keys_in_worker(texts: list[str]) -> np.ndarray:
    assert _worker is not None
    return band_keys(_worker.signatures(*_worker.shingles(texts)), *_worker_bands)


class KeyHasher:
    """Band keys of batches of texts, in order, in `processes` worker processes (or inline)."""

    def __init__(self, hasher: MinHasher, bands: int, rows: int, processes: int) -> None:
        self.hasher, self.bands, self.rows = hasher, bands, rows
        self.processes = processes or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self.results: list[np.ndarray] = []

    def inline(self, texts: list[str]) -> None:
        self.results.append(
            band_keys(self.hasher.signatures(*self.hasher.shingles(texts)), self.bands, self.rows)
        )

    def submit(self, texts: list[str]) -> None:
        """Hash a full batch: in a worker when processes > 1 (at most 2 batches queued each)."""
        if self.processes <= 1:
            self.inline(texts)
            return
        if self._pool is None:
            h = self.hasher
            self._pool = ProcessPoolExecutor(
                self.processes,
                mp_context=_start_method(),
                initializer=_init_worker,
                initargs=(h.ngram, h.num_perm, h.seed, self.bands, self.rows),
            )
        while len(self._pending) >= 2 * self.processes:
            self.results.append(self._pending.popleft().result())
        self._pending.append(self._pool.submit(_keys_in_worker, texts))

    def collect(self) -> np.ndarray:
        while self._pending:
            self.results.append(self._pending.popleft().result())
        if not self.results:
            return np.empty((0, self.bands), dtype=np.uint64)
        keys = np.concatenate(self.results)
        self.results = []
        return keys

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
