"""Word n-gram hashes of many texts at once, with numpy (no Python loop over words).

    flat, offsets = ngram_hashes(["A text ...", "another text"], n=5)
    first_text = flat[offsets[0] : offsets[1]]        # 64-bit hashes of its word 5-grams

Words: each text is lower-cased and UTF-8 encoded; a word is a run of ASCII letters, digits,
`_` or non-ASCII bytes, so ASCII punctuation and whitespace separate words and accented or
non-Latin letters stay inside them. A word's hash is a polynomial hash of its bytes computed for
all words of a batch with two cumulative sums (mod 2^64, via the inverse of the odd base), then
mixed with the MurmurHash3 64-bit finalizer; an n-gram's hash combines its n word hashes with
per-position odd multipliers and is mixed again. Hashes are stable across processes and runs.

A text with fewer than n words (but at least one) has a single hash: of all its words, computed
the same way as a k-gram over them, so a short text equals the k-gram of the same words inside a
longer text. A text without words has none.
"""

from __future__ import annotations

import numpy as np

BASE = np.uint64(0x100000001B3)  # odd: invertible mod 2^64
_BASE_INV = np.uint64(pow(int(BASE), -1, 1 << 64))
POSITION = np.random.RandomState(20240605).randint(1, 2**63, size=64, dtype=np.uint64) | np.uint64(
    1
)
MAX_NGRAM = len(POSITION)
SEP = 0xFF  # never occurs in UTF-8, so it can join encoded texts

_IS_WORD = np.zeros(256, dtype=bool)
for _lo, _hi in ((48, 57), (65, 90), (97, 122), (95, 95), (128, 254)):
    _IS_WORD[_lo : _hi + 1] = True

_powers: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]


_FMIX = {  # MurmurHash3 finalizer constants per width: shift, multiply, shift, multiply, shift
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35)),
    64: (
        np.uint64(33),
        np.uint64(0xFF51AFD7ED558CCD),
        np.uint64(33),
        np.uint64(0xC4CEB9FE1A85EC53),
    ),
}


def fmix(h: np.ndarray, width: int = 64) -> np.ndarray:
    """MurmurHash3's finalizer for uint32 / uint64 arrays (wrapping arithmetic), element-wise."""
    s1, m1, s2, m2 = _FMIX[width]
    h = (h ^ (h >> s1)) * m1
    h = (h ^ (h >> s2)) * m2
    return h ^ (h >> s1)


def _power_tables(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(BASE^j, BASE^-j) mod 2^64 for j < size, grown by doubling and cached."""
    if len(_powers[0]) < size:
        n = max(size, 2 * len(_powers[0]))
        for i, base in enumerate((BASE, _BASE_INV)):
            table = np.full(n, base, dtype=np.uint64)
            table[0] = 1
            _powers[i] = np.cumprod(table, dtype=np.uint64)
    return _powers[0][:size], _powers[1][:size]


def encode(texts: list[str]) -> np.ndarray:
    """The lower-cased texts as UTF-8 bytes joined by SEP (lone surrogates pass through)."""
    blob = bytes([SEP]).join(t.lower().encode("utf-8", "surrogatepass") for t in texts)
    return np.frombuffer(blob, dtype=np.uint8)


def word_hashes(data: np.ndarray, docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(hash of every word, index of the text it belongs to), in order, for `encode` output."""
    is_word = _IS_WORD[data]
    edges = np.diff(is_word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    power, inverse = _power_tables(len(data) + 1)
    prefix = np.zeros(len(data) + 1, dtype=np.uint64)
    np.cumsum(data.astype(np.uint64) * power[: len(data)], out=prefix[1:])
    hashes = fmix((prefix[ends] - prefix[starts]) * inverse[starts])
    if docs == 1:
        return hashes, np.zeros(len(hashes), dtype=np.int64)
    separators = np.flatnonzero(data == SEP)
    return hashes, np.searchsorted(separators, starts)


def _combine(words: np.ndarray, n: int) -> np.ndarray:
    m = len(words) - n + 1
    acc = words[:m] * POSITION[0]
    for k in range(1, n):
        acc += words[k : k + m] * POSITION[k]
    return fmix(acc)


def ngram_hashes(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 n-gram hashes grouped by text, offsets of length len(texts) + 1)."""
    if not 1 <= n <= MAX_NGRAM:
        raise ValueError(f"n-gram size must be in 1..{MAX_NGRAM}, got {n}")
    words, doc = word_hashes(encode(texts), len(texts))
    counts = np.bincount(doc, minlength=len(texts))
    if len(words) >= n:
        grams = _combine(words, n)
        keep = doc[: len(grams)] == doc[n - 1 :]
        flat, flat_doc = grams[keep], doc[: len(grams)][keep]
    else:
        flat, flat_doc = np.empty(0, np.uint64), np.empty(0, np.int64)
    short = np.flatnonzero((counts > 0) & (counts < n))
    if len(short):
        first = np.concatenate(([0], np.cumsum(counts)))
        extra = [_combine(words[first[i] : first[i + 1]], int(counts[i])) for i in short]
        flat = np.concatenate([flat, *extra])
        flat_doc = np.concatenate([flat_doc, short])
        order = np.argsort(flat_doc, kind="stable")
        flat, flat_doc = flat[order], flat_doc[order]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat_doc, minlength=len(texts)), out=offsets[1:])
    return flat, offsets
