"""MinHash signatures and LSH band keys for whole batches of texts, vectorised with numpy.

    hasher = MinHasher(ngram=5, num_perm=128, seed=1)
    shingles, offsets = hasher.shingles(texts)           # see `shingles.ngram_hashes`
    sigs = hasher.signatures(shingles, offsets)          # (texts, num_perm) uint32
    keys = band_keys(sigs, bands=18, rows=7)             # (texts, bands) uint64, 0 = no key

The permutations are datasketch's "affine32" scheme (the default of `datasketch.MinHash` since
2.0): each shingle hash is folded to 32 bits, pre-mixed with the MurmurHash3 32-bit finalizer,
then mapped by `a * h + b mod 2^32` for `num_perm` odd `a`, drawn exactly as
`datasketch.MinHash(num_perm=num_perm, seed=seed)` draws them. All permutations of a batch are
one (num_perm x shingles) matrix product and one `minimum.reduceat`, where the plain datasketch
loop calls `MinHash.update` (one SHA-1 and a few small numpy operations) per shingle.
"""

from __future__ import annotations

import numpy as np

from tunesmith.data.curate.shingles import POSITION, fmix, ngram_hashes

MAX32 = np.uint32(0xFFFFFFFF)
CHUNK_CELLS = 4_000_000
"""Permutation x shingle cells computed at once (16 MB of uint32)."""


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) equal to `datasketch.MinHash(num_perm=num_perm, seed=seed).permutations`."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Word n-gram shingles and MinHash signatures with a fixed n, permutation count and seed."""

    def __init__(self, ngram: int = 5, num_perm: int = 128, seed: int = 1) -> None:
        self.ngram, self.num_perm, self.seed = ngram, num_perm, seed
        self.a, self.b = permutations(num_perm, seed)

    def shingles(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return ngram_hashes(texts, self.ngram)

    def signatures(self, shingles: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(texts, num_perm) uint32 signatures; a text without shingles gets all MAX32."""
        docs = len(offsets) - 1
        out = np.full((docs, self.num_perm), MAX32, dtype=np.uint32)
        h32 = fmix((shingles ^ (shingles >> np.uint64(32))).astype(np.uint32), 32)
        limit = max(1, CHUNK_CELLS // self.num_perm)
        start = 0
        while start < docs:
            # as many texts as fit in `limit` shingles (at least one)
            stop = max(
                start + 1, int(np.searchsorted(offsets, offsets[start] + limit, "right")) - 1
            )
            stop = min(stop, docs)
            self._fill(h32, offsets[start : stop + 1], out[start:stop])
            start = stop
        return out

    def _fill(self, h32: np.ndarray, offsets: np.ndarray, out: np.ndarray) -> None:
        lengths = np.diff(offsets)
        nonempty = np.flatnonzero(lengths)
        if len(nonempty) == 0:
            return
        # (num_perm, shingles): reduceat along the contiguous axis is ~30x faster than by rows
        cells = np.multiply.outer(self.a, h32[offsets[0] : offsets[-1]])
        cells += self.b[:, None]
        starts = offsets[:-1][nonempty] - offsets[0]
        out[nonempty] = np.minimum.reduceat(cells, starts, axis=1).T


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(texts, bands) uint64 keys, equal within a column when those signature bands are equal.

    Keys are odd; texts without shingles (all-MAX32 signatures) get key 0 in every band.
    """
    docs = signatures.shape[0]
    keys = np.empty((docs, bands), dtype=np.uint64)
    sig = signatures[:, : bands * rows].astype(np.uint64)
    for band in range(bands):
        acc = np.full(docs, POSITION[(band + 8) % len(POSITION)], dtype=np.uint64)
        for k in range(rows):
            acc = (acc ^ sig[:, band * rows + k]) * POSITION[k % len(POSITION)]
        keys[:, band] = fmix(acc) | np.uint64(1)
    keys[(signatures == MAX32).all(axis=1)] = 0
    return keys


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two shingle-hash arrays taken as sets (1.0 for two empty ones)."""
    ua, ub = np.unique(a), np.unique(b)
    union = len(np.union1d(ua, ub))
    return len(np.intersect1d(ua, ub, assume_unique=True)) / union if union else 1.0
