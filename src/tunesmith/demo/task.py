"""The built-in reasoning task: reverse a short list of words, thinking first.

The same generator makes (a) the plain-text corpus the shipped tiny base was pretrained on
(scripts/build_tiny_base.py) and (b) the chat dataset the demo fine-tunes on. The base sees
reversals only as prose; it has never seen the chat template, so before fine-tuning it does
not answer in the DeepSeek-R1 format; after a LoRA fine-tune it does.
"""

from __future__ import annotations

import random

# Each word is one token of the shipped tokenizer, with and without a leading space.
WORDS = [
    "water",
    "world",
    "house",
    "book",
    "city",
    "team",
    "door",
    "car",
    "game",
    "home",
    "money",
    "night",
    "school",
    "family",
    "country",
    "week",
    "company",
    "month",
    "story",
    "child",
    "art",
    "party",
    "air",
    "model",
    "data",
    "layer",
    "memory",
    "network",
    "red",
    "blue",
    "green",
    "dark",
    "cold",
    "hot",
    "nice",
    "huge",
    "simple",
    "small",
    "old",
    "young",
]

QUESTION_TEMPLATES = (
    "Reverse the order of these words: {items}",
    "Write these words in reverse order: {items}",
    "Please reverse the list: {items}",
)

PROSE_TEMPLATES = (
    "Words: {items}. Reversed: {rev}. That is the list backwards.",
    "The list {commas} in reverse order is {rev_commas}.",
    "Read from last to first, {items} becomes {rev}.",
    "The words are {commas}. Reading them from last to first: {rev_commas}. So the answer is {rev}.",
)

FILLER_TEMPLATES = (
    "The {a} {b} sat by the {c} while the {d} watched.",
    "A {a} and a {b} went to the {c}.",
    "In the morning the {a} saw a {b} near the {c}.",
    "Count with me: one, two, three, four, five.",
    "My favourite things are the {a}, the {b} and the {c}.",
)


def _items(rng: random.Random) -> list[str]:
    return rng.sample(WORDS, rng.randint(3, 5))


def reasoning_for(items: list[str]) -> str:
    rev = list(reversed(items))
    return f"The words are {', '.join(items)}. Reading them from last to first: {', '.join(rev)}."


def prose_document(rng: random.Random, n_sentences: int = 6) -> str:
    """One pretraining document: reversal prose mixed with filler sentences."""
    out = []
    for _ in range(n_sentences):
        if rng.random() < 0.7:
            items = _items(rng)
            rev = list(reversed(items))
            out.append(
                rng.choice(PROSE_TEMPLATES).format(
                    items=" ".join(items),
                    rev=" ".join(rev),
                    commas=", ".join(items),
                    rev_commas=", ".join(rev),
                )
            )
        else:
            a, b, c, d = rng.sample(WORDS, 4)
            out.append(rng.choice(FILLER_TEMPLATES).format(a=a, b=b, c=c, d=d))
    return " ".join(out)


def chat_record(rng: random.Random) -> dict:
    """One chat sample in OpenAI `messages` form, the answer after a <think> block."""
    items = _items(rng)
    question = rng.choice(QUESTION_TEMPLATES).format(items=" ".join(items))
    answer = " ".join(reversed(items))
    return {
        "messages": [
            {"role": "user", "content": question},
            {
                "role": "assistant",
                "content": f"<think>\n{reasoning_for(items)}\n</think>\n\n{answer}",
            },
        ]
    }


def chat_dataset(n_train: int, n_test: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Train and held-out test records; no word list appears in both."""
    rng = random.Random(seed)
    train: list[dict] = []
    test: list[dict] = []
    seen: set[str] = set()
    while len(train) + len(test) < n_train + n_test:
        rec = chat_record(rng)
        key = rec["messages"][1]["content"]
        if key in seen:
            continue
        seen.add(key)
        (train if len(train) < n_train else test).append(rec)
    return train, test
