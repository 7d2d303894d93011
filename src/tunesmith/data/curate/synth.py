"""Generated chat corpora with planted problems and their ground truth (tests, bench, scale).

    corpus = make_corpus(CorpusSpec(records=2000, near_dups=200), seed=0)
    corpus.records            # OpenAI-messages dicts with a "label" field, in file order
    corpus.truth.near_dups    # {index of planted copy: (index of its original, true Jaccard)}

Words are pronounceable nonsense drawn from a Zipf distribution, so records look like text to
the quality filters but never collide by chance. Planted, each on its own clean original:
exact duplicates (case and whitespace changed), near duplicates at a true word 5-gram Jaccard
in [near_low, near_high], distractors at a Jaccard in [far_low, far_high] (similar, but below
the threshold: they must stay), PII (one finding each, cycling email, phone, IP, card),
records containing a 20-word span of an eval record, and junk (repeated lines, symbol soup, an
empty answer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from tunesmith.data.curate.shingles import ngram_hashes

LABELS = ("math", "code", "travel", "cooking")
PII_SAMPLES = {
    "email": "write to ana.lopez{i}@mail.example.org",
    "phone": "call +1 (555) 201-{i:04d}",
    "ip_address": "the host is 10.{a}.{b}.7",
    "credit_card": "card 4111 1111 1111 1111",
}
JUNK = ("dup_line_frac", "symbol_ratio", "empty_answer")


@dataclass
class CorpusSpec:
    records: int = 1000
    exact_dups: int = 0
    near_dups: int = 0
    distractors: int = 0
    pii: int = 0
    contaminated: int = 0
    junk: int = 0
    eval_records: int = 0
    min_words: int = 60
    max_words: int = 160
    near_low: float = 0.8
    near_high: float = 0.95
    far_low: float = 0.5
    far_high: float = 0.7
    measure: bool = True
    """Plant near duplicates at a measured Jaccard (slower); else by a word-edit estimate."""


@dataclass
class Truth:
    exact_dups: dict[int, int] = field(default_factory=dict)
    near_dups: dict[int, tuple[int, float]] = field(default_factory=dict)
    distractors: dict[int, tuple[int, float]] = field(default_factory=dict)
    pii: dict[int, str] = field(default_factory=dict)
    contaminated: dict[int, int] = field(default_factory=dict)
    junk: dict[int, str] = field(default_factory=dict)


@dataclass
class Corpus:
    records: list[dict]
    eval_records: list[dict]
    truth: Truth


class _Words:
    def __init__(self, rng: random.Random, size: int = 4000) -> None:
        onsets, vowels = (
            [
                "b",
                "c",
                "d",
                "f",
                "g",
                "h",
                "k",
                "l",
                "m",
                "n",
                "p",
                "r",
                "s",
                "t",
                "v",
                "w",
                "z",
                "br",
                "st",
                "pl",
                "tr",
            ],
            ["a", "e", "i", "o", "u", "ai"],
        )
        words: set[str] = set()
        while len(words) < size:
            words.add(
                "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(1, 3)))
            )
        self.words = sorted(words)
        weights = 1.0 / np.arange(1, size + 1) ** 0.9
        self.cum = np.cumsum(weights / weights.sum())
        self.rng = rng

    def draw(self, n: int) -> list[str]:
        picks = np.searchsorted(self.cum, [self.rng.random() for _ in range(n)])
        return [self.words[min(i, len(self.words) - 1)] for i in picks]

    def sentence_text(self, n: int) -> str:
        words, out, i = self.draw(n), [], 0
        while i < len(words):
            k = self.rng.randint(6, 14)
            chunk = words[i : i + k]
            out.append(" ".join(chunk).capitalize() + ".")
            i += k
        return " ".join(out)


def _record(user: str, answer: str, label: str) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}],
        "label": label,
    }


def _text(record: dict) -> str:
    return "\n\n".join(m["content"] for m in record["messages"])


def jaccard_of(a: str, b: str, n: int = 5) -> float:
    flat, off = ngram_hashes([a, b], n)
    x, y = np.unique(flat[off[0] : off[1]]), np.unique(flat[off[1] : off[2]])
    union = len(np.union1d(x, y))
    return len(np.intersect1d(x, y)) / union if union else 1.0


def _edit(
    record: dict, target: float, words: _Words, rng: random.Random, measure: bool
) -> tuple[dict, float]:
    """A copy of `record` with answer words replaced until its Jaccard is just above `target`."""
    answer = record["messages"][1]["content"].split(" ")
    original = _text(record)
    if not measure:  # each replaced word changes about 5 shingles: J ~ (m - 5k) / (m + 5k)
        m = len(original.split())
        k = max(1, int(m * (1 - target) / (5 * (1 + target))))
        for pos in rng.sample(range(len(answer)), min(k, len(answer))):
            answer[pos] = words.draw(1)[0]
        copy = _record(record["messages"][0]["content"], " ".join(answer), record["label"])
        return copy, float("nan")
    positions = rng.sample(range(len(answer)), len(answer))
    best, score = record, 1.0
    for pos in positions:
        trial = list(answer)
        trial[pos] = words.draw(1)[0] + "q"
        candidate = _record(record["messages"][0]["content"], " ".join(trial), record["label"])
        value = jaccard_of(original, _text(candidate))
        if value < target and best is not record:  # at least one edit: never an exact copy
            break
        answer, best, score = trial, candidate, value
    return best, score


def make_corpus(spec: CorpusSpec, seed: int = 0) -> Corpus:
    rng = random.Random(seed)
    words = _Words(rng)
    planted = spec.exact_dups + spec.near_dups + spec.distractors + spec.junk
    clean = spec.records - planted
    originals = [
        _record(
            words.sentence_text(rng.randint(10, 24)).rstrip(".") + "?",
            words.sentence_text(rng.randint(spec.min_words, spec.max_words)),
            rng.choice(LABELS),
        )
        for _ in range(clean)
    ]
    evals = [
        _record(words.sentence_text(16), words.sentence_text(40), "eval")
        for _ in range(spec.eval_records)
    ]
    truth = Truth()
    reserved = rng.sample(
        range(clean),
        spec.near_dups + spec.distractors + spec.exact_dups + spec.pii + spec.contaminated,
    )
    take = iter(reserved)
    extra: list[tuple[int, dict, str, object]] = []  # (original index, record, kind, info)
    for _ in range(spec.exact_dups):
        i = next(take)
        m = originals[i]["messages"]
        copy = _record(
            "  " + m[0]["content"].upper(),
            m[1]["content"].replace(" ", "   "),
            originals[i]["label"],
        )
        extra.append((i, copy, "exact", None))
    for kind, count, low, high in (
        ("near", spec.near_dups, spec.near_low, spec.near_high),
        ("far", spec.distractors, spec.far_low, spec.far_high),
    ):
        for _ in range(count):
            i = next(take)
            copy, score = _edit(originals[i], rng.uniform(low, high), words, rng, spec.measure)
            extra.append((i, copy, kind, score))
    for k in range(spec.pii):
        i = next(take)
        kind = list(PII_SAMPLES)[k % len(PII_SAMPLES)]
        note = PII_SAMPLES[kind].format(i=k, a=k % 250, b=(k // 250) % 250)
        originals[i]["messages"][1]["content"] += f" Then {note} today."
        truth.pii[i] = kind
    for k in range(spec.contaminated):
        i = next(take)
        span = " ".join(_text(evals[k % len(evals)]).split()[:20])
        originals[i]["messages"][1]["content"] += " " + span
        truth.contaminated[i] = k % len(evals)
    for k in range(spec.junk):
        kind = JUNK[k % len(JUNK)]
        if kind == "dup_line_frac":
            line = words.sentence_text(8)
            answer = "\n".join([line] * 8 + [words.sentence_text(8) for _ in range(2)])
        elif kind == "symbol_ratio":
            pairs = zip(words.draw(30), words.draw(30), strict=True)
            answer = " ".join(f"{w} #{t}" for w, t in pairs)
        else:
            answer = "..."
        extra.append(
            (-1, _record(words.sentence_text(12) + "?", answer, rng.choice(LABELS)), kind, None)
        )
    # copies go after their originals, at random later positions: sort by key
    keyed: list[tuple[float, str, int, dict, object]] = [
        (float(i), "orig", i, r, None) for i, r in enumerate(originals)
    ]
    for i, record, kind, info in extra:
        keyed.append((rng.uniform(i + 0.5 if i >= 0 else -0.5, clean), kind, i, record, info))
    keyed.sort(key=lambda k: k[0])
    order = [(kind, i, record, info) for _, kind, i, record, info in keyed]
    position = {i: p for p, (kind, i, _, _) in enumerate(order) if kind == "orig"}
    records = []
    for p, (kind, i, record, info) in enumerate(order):
        records.append(record)
        if kind == "exact":
            truth.exact_dups[p] = position[i]
        elif kind == "near":
            truth.near_dups[p] = (position[i], info)  # type: ignore[assignment]
        elif kind == "far":
            truth.distractors[p] = (position[i], info)  # type: ignore[assignment]
        elif kind in JUNK:
            truth.junk[p] = kind
    truth.pii = {position[i]: kind for i, kind in truth.pii.items()}
    truth.contaminated = {position[i]: k for i, k in truth.contaminated.items()}
    return Corpus(records, evals, truth)


def write_corpus(path: str, records: int, chunk: int = 100_000, seed: int = 0) -> dict[str, int]:
    """Write a large jsonl corpus in chunks (each a `make_corpus` with planted problems).

    Per chunk of n records: 2% exact duplicates, 5% near duplicates (word-edit estimate), 1%
    distractors, 1% PII, 0.3% junk. Returns the planted totals. Used for the 1M-record run.
    """
    import json

    totals = {"records": 0, "exact_dups": 0, "near_dups": 0, "pii": 0, "junk": 0}
    with open(path, "w", encoding="utf-8") as f:
        for k, start in enumerate(range(0, records, chunk)):
            n = min(chunk, records - start)
            spec = CorpusSpec(
                records=n,
                exact_dups=n // 50,
                near_dups=n // 20,
                distractors=n // 100,
                pii=n // 100,
                junk=3 * n // 1000,
                measure=False,
            )
            corpus = make_corpus(spec, seed=seed + k)
            f.writelines(json.dumps(r) + "\n" for r in corpus.records)
            for key in ("exact_dups", "near_dups", "pii", "junk"):
                totals[key] += len(getattr(corpus.truth, key))
            totals["records"] += n
    return totals
