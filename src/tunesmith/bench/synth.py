"""Seeded synthetic chat records whose token lengths follow a long-tailed distribution.

Each record asks the assistant to repeat a list of words drawn from a seeded bigram chain, so
the data has structure a tiny model can learn (bigram statistics, then copying). Target token
lengths are log-normal, clipped to [min_len, max_len]: most samples are short, a few are long,
which is the shape of real chat data and what makes pad-to-longest batches wasteful.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tunesmith.records import Conversation, Message
from tunesmith.tokenize.masking import encode_conversation

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "be", "da", "fu", "go", "pe", "zi")
PROMPT = "Repeat the list exactly:"


@dataclass(frozen=True)
class LengthSpec:
    """Log-normal token lengths: median, sigma (of the log), clipped to [min_len, max_len]."""

    median: float = 96.0
    sigma: float = 1.0
    min_len: int = 16
    max_len: int = 1024

    def sample(self, rng: random.Random) -> int:
        n = int(round(math.exp(rng.gauss(math.log(self.median), self.sigma))))
        return max(self.min_len, min(self.max_len, n))


class WordChain:
    """A seeded bigram chain over made-up words: each word has a few likely successors."""

    def __init__(self, seed: int, n_words: int = 256, fanout: int = 4) -> None:
        rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < n_words:
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))))
        self.words = sorted(words)
        self.next = [rng.sample(range(n_words), fanout) for _ in range(n_words)]

    def sequence(self, rng: random.Random, n: int) -> list[str]:
        i = rng.randrange(len(self.words))
        out = []
        for _ in range(n):
            out.append(self.words[i])
            i = rng.choice(self.next[i]) if rng.random() < 0.9 else rng.randrange(len(self.words))
        return out


def conversation(words: list[str]) -> Conversation:
    text = " ".join(words)
    return Conversation(messages=[Message("user", f"{PROMPT} {text}"), Message("assistant", text)])


def encoded_length(tok: PreTrainedTokenizerBase, conv: Conversation, max_len: int) -> int:
    enc = encode_conversation(tok, conv, max_len, train_on_prompt=False, truncation="right")
    return 0 if enc is None else len(enc.input_ids)


def make_conversations(
    tok: PreTrainedTokenizerBase,
    *,
    budget_tokens: int,
    seed: int,
    lengths: LengthSpec = LengthSpec(),
) -> tuple[list[Conversation], list[int]]:
    """Conversations until their encoded lengths sum to `budget_tokens`; and those lengths."""
    rng = random.Random(seed)
    chain = WordChain(seed=1234)  # one language for every split; only the sampling is seeded
    per_word = _tokens_per_word(tok, chain)
    convs: list[Conversation] = []
    sizes: list[int] = []
    while sum(sizes) < budget_tokens:
        target = lengths.sample(rng)
        n_words = max(1, int(round((target - 8) / (2 * per_word))))
        conv = conversation(chain.sequence(rng, n_words))
        n = encoded_length(tok, conv, lengths.max_len)
        if n == 0:
            continue
        convs.append(conv)
        sizes.append(n)
    return convs, sizes


def _tokens_per_word(tok: PreTrainedTokenizerBase, chain: WordChain) -> float:
    words = chain.sequence(random.Random(0), 400)
    return len(tok(" ".join(words), add_special_tokens=False)["input_ids"]) / len(words)


def write_jsonl(convs: list[Conversation], path: Path) -> Path:
    """`messages`-format jsonl, one record a line."""
    with path.open("w") as f:
        for c in convs:
            msgs = [{"role": m.role, "content": m.content} for m in c.messages]
            f.write(json.dumps({"messages": msgs}) + "\n")
    return path


def length_stats(sizes: list[int]) -> dict[str, float]:
    s = sorted(sizes)

    def q(p: float) -> int:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {
        "records": len(s),
        "tokens": sum(s),
        "mean": round(sum(s) / len(s), 1),
        "p50": q(0.5),
        "p90": q(0.9),
        "p99": q(0.99),
        "min": s[0],
        "max": s[-1],
    }
