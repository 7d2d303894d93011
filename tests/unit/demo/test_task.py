"""The built-in demo task: splits disjoint, answers correct, words single tokens."""

from __future__ import annotations

import random

from tunesmith.demo.task import WORDS, chat_dataset, prose_document
from tunesmith.tokenize.templates import load_tokenizer


def test_splits_disjoint_and_answers_reverse_the_question() -> None:
    train, test = chat_dataset(200, 50, seed=0)
    assert (len(train), len(test)) == (200, 50)
    key = lambda r: r["messages"][0]["content"].split(": ", 1)[1]  # noqa: E731
    assert not {key(r) for r in train} & {key(r) for r in test}
    for rec in train + test:
        words = key(rec).split()
        answer = rec["messages"][1]["content"].split("</think>\n\n")[1]
        assert answer.split() == words[::-1] and 3 <= len(words) <= 5


def test_same_seed_same_data() -> None:
    assert chat_dataset(20, 5, seed=3) == chat_dataset(20, 5, seed=3)
    assert chat_dataset(20, 5, seed=3) != chat_dataset(20, 5, seed=4)


def test_every_word_is_one_token() -> None:
    tok = load_tokenizer()
    for w in WORDS:
        assert len(tok.tokenize(w)) == 1 and len(tok.tokenize(" " + w)) == 1, w


def test_prose_never_uses_the_chat_template() -> None:
    rng = random.Random(0)
    docs = [prose_document(rng) for _ in range(50)]
    assert not any("<think>" in d or "<｜" in d for d in docs)
    assert any("reverse" in d or "Reversed" in d for d in docs)
