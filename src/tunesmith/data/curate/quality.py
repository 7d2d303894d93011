"""Quality filters: length in characters and tokens, empty answers, Gopher-style heuristics.

Checks run in this order and the first failure names the drop reason:

- `empty_answer`: an assistant answer with fewer than `min_answer_alnum` letters or digits
  (whitespace-only answers never get here: validation rejects them as `empty_text`);
- `too_short` / `too_long`: characters of all turns outside [min_chars, max_chars];
- `too_few_tokens` / `too_many_tokens`: tokens of the rendered record (chat template), counted
  only when min_tokens > 0 or max_tokens is set, with `tokenizer` or the shipped tokenizer;
- on texts of at least `gopher_min_words` words (the ratios mean nothing on a few words),
  Gopher's rules (Rae et al. 2021, table A1, as datatrove implements them):
  `dup_para_frac`, `dup_para_char_frac`, `dup_line_frac`, `dup_line_char_frac`,
  `top_{2,3,4}_gram`, `dup_{5..10}_gram`, `symbol_ratio` ('#' and ellipses per word) and
  `alpha_words` (share of words with a letter).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from tunesmith.data.curate.base import Drop, Result, Step
from tunesmith.data.curate.items import Item, full_text
from tunesmith.data.curate.options import QualityOptions
from tunesmith.data.curate.shingles import POSITION, fmix

PARAGRAPH = re.compile(r"\n{2,}")
WORDS = re.compile(r"\w+|[^\w\s]+")  # words and punctuation runs, as nltk splits
PLAIN = re.compile(r"\w+")
NO_LETTER = re.compile(r"(?<!\w)[\d_]+(?!\w)")  # a \w+ run of digits and underscores


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """(elements seen before, characters in them)."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        else:
            seen.add(part)
    return count, chars


class _Grams:
    """Word n-grams of one text as 64-bit hashes, with their lengths as space-joined strings.

    Hashes of n-grams are built from those of (n-1)-grams, so asking for n = 2, 3, ... in
    order costs one array operation per n.
    """

    def __init__(self, words: list[str]) -> None:
        # str hashes are salted per process, which is fine: only equality within a text matters
        ids = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
        self.ids = fmix(ids)
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        self.ends = np.concatenate(([0], np.cumsum(lengths)))
        self.n, self.h = 1, self.ids * POSITION[0]

    def of(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, characters) of each n-gram in order; n never decreases between calls."""
        while self.n < n:
            m = len(self.ids) - self.n
            self.h = self.h[:m] + self.ids[self.n : self.n + m] * POSITION[self.n]
            self.n += 1
        m = max(0, len(self.ids) - n + 1)
        return self.h[:m], self.ends[n : n + m] - self.ends[:m] + (n - 1)

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram times its count (first seen wins ties)."""
        h, chars = self.of(n)
        if len(h) == 0:
            return 0
        _, first, counts = np.unique(h, return_index=True, return_counts=True)
        best = counts.max()
        pick = first[counts == best].min()
        return int(chars[pick]) * int(best)

    def repeated_chars(self, n: int) -> int:
        """Characters in n-grams seen before, jumping n words past each repeat (datatrove)."""
        h, chars = self.of(n)
        seen: set[int] = set()
        total = i = 0
        values = h.tolist()
        while i < len(values):
            if values[i] in seen:
                total += int(chars[i])
                i += n
            else:
                seen.add(values[i])
                i += 1
        return total

    def has_repeats(self, n: int) -> bool:
        h, _ = self.of(n)
        return len(np.unique(h)) < len(h)


def gopher_reason(text: str, o: QualityOptions) -> str | None:
    """The first Gopher rule `text` breaks, or None."""
    plain = len(PLAIN.findall(text))
    if plain < max(1, o.gopher_min_words):
        return None
    size = len(text)
    paragraphs = PARAGRAPH.split(text.strip())
    count, chars = _duplicates(paragraphs)
    if count / len(paragraphs) > o.max_dup_para_frac:
        return "dup_para_frac"
    if chars / size > o.max_dup_para_char_frac:
        return "dup_para_char_frac"
    lines = text.splitlines()
    count, chars = _duplicates(lines)
    if count / len(lines) > o.max_dup_line_frac:
        return "dup_line_frac"
    if chars / size > o.max_dup_line_char_frac:
        return "dup_line_char_frac"
    grams = _Grams(WORDS.findall(text))
    for n, limit in zip((2, 3, 4), o.max_top_ngram_frac, strict=True):
        if grams.top_chars(n) / size > limit:
            return f"top_{n}_gram"
    if grams.has_repeats(5):  # no repeated 5-gram: no repeated longer n-gram either
        for n, limit in zip(range(5, 11), o.max_dup_ngram_frac, strict=True):
            if grams.repeated_chars(n) / size > limit:
                return f"dup_{n}_gram"
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / plain > o.max_symbol_word_ratio:
        return "symbol_ratio"
    if (plain - len(NO_LETTER.findall(text))) / plain < o.min_alpha_word_frac:
        return "alpha_words"
    return None


class Quality(Step):
    name = "quality"

    def __init__(self, options: QualityOptions, work: Path) -> None:
        self.o = options
        self._tokenizer: Any = None

    def _tokens(self, item: Item) -> int:
        from tunesmith.tokenize.templates import load_tokenizer, render

        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.o.tokenizer)
        text = render(item.conv)
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def check(self, item: Item) -> Drop | None:
        o = self.o
        for i, m in enumerate(item.conv.messages):
            if m.role == "assistant" and sum(c.isalnum() for c in m.content) < o.min_answer_alnum:
                return Drop(
                    "empty_answer",
                    f"assistant answer (turn {i}) has fewer than "
                    f"{o.min_answer_alnum} letters or digits: {m.content[:40]!r}",
                )
        text = full_text(item.conv)
        if len(text) < o.min_chars:
            return Drop("too_short", f"{len(text):,} characters (min_chars {o.min_chars:,})")
        if len(text) > o.max_chars:
            return Drop("too_long", f"{len(text):,} characters (max_chars {o.max_chars:,})")
        if o.min_tokens > 0 or o.max_tokens is not None:
            tokens = self._tokens(item)
            if tokens < o.min_tokens:
                return Drop("too_few_tokens", f"{tokens:,} tokens (min_tokens {o.min_tokens:,})")
            if o.max_tokens is not None and tokens > o.max_tokens:
                return Drop("too_many_tokens", f"{tokens:,} tokens (max_tokens {o.max_tokens:,})")
        reason = gopher_reason(text, o)
        if reason is not None:
            return Drop(reason, f"fails the Gopher rule '{reason}' (see docs/data-prepare.md)")
        return None

    def apply(self, item: Item, index: int | None) -> Result:
        return self.check(item) or item
