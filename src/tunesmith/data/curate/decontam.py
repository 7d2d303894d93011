"""Decontamination: drop training records that share a word n-gram (13 by default) with an
evaluation record (GPT-3's rule; Brown et al. 2020, appendix C).

The eval files are read with `load_conversations` (any supported format); every word n-gram
of every eval record (all turns) is hashed as near dedupe hashes shingles (lower-cased words,
punctuation ignored) and kept in one sorted array. A training record is dropped (reason
`contaminated`) when any of its n-grams is in it; the message names the eval record. Eval
records with fewer than `ngram` words have no n-gram and are counted in the report as
`eval_records_too_short`, not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.base import Drop, Result, Step
from tunesmith.data.curate.items import Item, content_text
from tunesmith.data.curate.options import DecontamOptions
from tunesmith.data.curate.shingles import encode, ngram_hashes, word_hashes
from tunesmith.data.load import load_conversations

BATCH = 1000


class Decontam(Step):
    name = "decontam"

    def __init__(self, options: DecontamOptions, work: Path) -> None:
        self.n = options.ngram
        loaded = load_conversations(options.eval, fmt=options.format)
        texts = [content_text(c) for c in loaded.conversations]
        self.eval_sources = [c.source for c in loaded.conversations]
        grams, owners, short = [], [], 0
        for start in range(0, len(texts), BATCH):
            chunk = texts[start : start + BATCH]
            flat, offsets = ngram_hashes(chunk, self.n)
            counts = np.diff(offsets)
            words = np.bincount(word_hashes(encode(chunk), len(chunk))[1], minlength=len(chunk))
            keep = words >= self.n  # texts shorter than n words got one hash of all words
            short += int((~keep & (words > 0)).sum())
            owner = np.repeat(np.arange(start, start + len(chunk)), counts)
            mask = np.repeat(keep, counts)
            grams.append(flat[mask])
            owners.append(owner[mask])
        flat = np.concatenate(grams) if grams else np.empty(0, np.uint64)
        owner = np.concatenate(owners) if owners else np.empty(0, np.int64)
        order = np.argsort(flat, kind="stable")
        self.grams, self.owner = flat[order], owner[order]
        self.eval_records, self.eval_short = len(texts), short

    def apply(self, item: Item, index: int | None) -> Result:
        if len(self.grams) == 0:
            return item
        mine, _ = ngram_hashes([content_text(item.conv)], self.n)
        where = np.searchsorted(self.grams, mine)
        where[where == len(self.grams)] = 0
        hits = np.flatnonzero(self.grams[where] == mine)
        if len(hits) == 0:
            return item
        first = self.eval_sources[int(self.owner[where[hits[0]]])]
        return Drop(
            "contaminated",
            f"shares {len(hits)} {self.n}-gram(s) with eval record {first}",
        )

    def summary(self) -> dict[str, Any]:
        return {
            "ngram": self.n,
            "eval_records": self.eval_records,
            "eval_records_too_short": self.eval_short,
        }
