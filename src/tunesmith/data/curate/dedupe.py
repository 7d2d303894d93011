"""Exact dedupe (hash of the normalised text) and near dedupe (MinHash-LSH + Jaccard check).

Both keep the first record of a group in input order and drop later ones, naming the kept
record in the reject message. Near dedupe is greedy in input order: a record is dropped when
its Jaccard similarity with an earlier *kept* record reaches the threshold (with `verify` on;
with it off, when it shares an LSH bucket with one), so every dropped record has a similar
record in the output.
"""

from __future__ import annotations

from hashlib import blake2b
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.base import Drop, Records, Result, Step
from tunesmith.data.curate.items import Item, content_text, exact_key
from tunesmith.data.curate.lsh import KeyHasher, candidate_pairs, lsh_params
from tunesmith.data.curate.minhash import MinHasher, jaccard
from tunesmith.data.curate.options import ExactDedupeOptions, NearDedupeOptions

BATCH_TEXTS = 2000
"""Texts hashed per batch (one worker task)."""


class ExactDedupe(Step):
    name = "exact_dedupe"

    def __init__(self, options: ExactDedupeOptions, work: Path) -> None:
        self.lowercase = options.lowercase
        self.first: dict[int, str] = {}

    def apply(self, item: Item, index: int | None) -> Result:
        key = exact_key(item.conv, self.lowercase).encode("utf-8", "surrogatepass")
        digest = int.from_bytes(blake2b(key, digest_size=8).digest(), "little")
        kept = self.first.setdefault(digest, item.source)
        if kept is not item.source:
            return Drop("exact_duplicate", f"exact duplicate of {kept}")
        return item


class NearDedupe(Step):
    name = "near_dedupe"
    global_pass = True

    def __init__(self, options: NearDedupeOptions, work: Path) -> None:
        self.o = options
        bands, rows = lsh_params(options.threshold, options.num_perm, options.verify)
        if options.bands or options.rows:
            rows = options.rows or max(1, options.num_perm // options.bands)
            bands = options.bands or max(1, options.num_perm // rows)
        self.bands, self.rows = bands, rows
        self.hasher = MinHasher(options.ngram, options.num_perm, options.seed)
        self.keys = KeyHasher(self.hasher, bands, rows, options.processes)
        self.batch: list[str] = []
        self.dup_of: dict[int, tuple[int, float | None]] = {}
        self.sources: dict[int, str] = {}
        self.candidates = 0

    def observe(self, item: Item, index: int) -> None:
        self.batch.append(content_text(item.conv))
        if len(self.batch) >= BATCH_TEXTS:
            self.keys.submit(self.batch)
            self.batch = []

    def finish(self, records: Records) -> None:
        if self.batch:
            self.keys.inline(self.batch)
            self.batch = []
        pairs = candidate_pairs(self.keys.collect())
        self.keys.close()
        self.candidates = len(pairs)
        scores: list[float | None] = [None] * len(pairs)
        if self.o.verify and len(pairs):
            scores = self._verify(pairs, records)
        self._decide(pairs, scores)

    def _verify(self, pairs: np.ndarray, records: Records) -> list[float | None]:
        shingles: dict[int, np.ndarray] = {}  # only the candidates' shingle sets are kept
        batch: list[tuple[int, str]] = []
        for index, item in records.pick(np.unique(pairs).tolist()):
            batch.append((index, content_text(item.conv)))
            if len(batch) == BATCH_TEXTS:
                self._shingle_sets(batch, shingles)
                batch = []
        self._shingle_sets(batch, shingles)
        return [jaccard(shingles[i], shingles[j]) for i, j in pairs.tolist()]

    def _shingle_sets(self, batch: list[tuple[int, str]], out: dict[int, np.ndarray]) -> None:
        if batch:
            flat, offsets = self.hasher.shingles([text for _, text in batch])
            for k, (index, _) in enumerate(batch):
                out[index] = np.unique(flat[offsets[k] : offsets[k + 1]])

    def _decide(self, pairs: np.ndarray, scores: list[float | None]) -> None:
        """Greedy in index order: drop j if similar to an earlier record that is kept."""
        partners: dict[int, list[tuple[int, float | None]]] = {}
        for (i, j), score in zip(pairs.tolist(), scores, strict=True):
            if score is None or score >= self.o.threshold:
                partners.setdefault(j, []).append((i, score))
        for j in sorted(partners):
            kept = [(i, s) for i, s in partners[j] if i not in self.dup_of]
            if kept:
                best = max(kept, key=lambda p: -1.0 if p[1] is None else p[1])
                self.dup_of[j] = best
        self.sources = {i: "" for i, _ in self.dup_of.values()}

    def apply(self, item: Item, index: int | None) -> Result:
        if index in self.sources:
            self.sources[index] = item.source
        match = self.dup_of.get(index) if index is not None else None
        if match is None:
            return item
        kept, score = match
        how = f"Jaccard {score:.3f}" if score is not None else "same LSH bucket, not verified"
        return Drop("near_duplicate", f"near duplicate of {self.sources[kept]} ({how})")

    def summary(self) -> dict[str, Any]:
        return {
            "ngram": self.o.ngram,
            "num_perm": self.o.num_perm,
            "threshold": self.o.threshold,
            "bands": self.bands,
            "rows": self.rows,
            "verify": self.o.verify,
            "candidate_pairs": self.candidates,
        }

    def close(self) -> None:
        self.keys.close()
