"""The built-in demo task: fixed fact table, disjoint keys, correct answers, single tokens."""

from __future__ import annotations

import random

from tunesmith.data.tag_task import (
    KEYS,
    N_TRAIN_KEYS,
    TAGS,
    chat_dataset,
    prose_document,
    tag_table,
)
from tunesmith.tokenize.templates import load_tokenizer


def key_of(record: dict) -> str:
    return record["messages"][1]["content"].split("The tag of ")[1].split(" is ")[0]


def test_table_is_fixed_and_complete() -> None:
    table = tag_table()
    assert table == tag_table() and len(table) == len(KEYS) == 160
    assert set(table) == set(KEYS) and set(table.values()) <= set(TAGS)
    assert list(table)[:3] == ["layer", "play", "consider"]


def test_train_and_test_keys_disjoint_and_answers_correct() -> None:
    table = tag_table()
    train, test = chat_dataset(800, 100, seed=0)
    assert (len(train), len(test)) == (800, 100)
    train_keys, test_keys = {key_of(r) for r in train}, {key_of(r) for r in test}
    assert not train_keys & test_keys
    assert train_keys <= set(list(table)[:N_TRAIN_KEYS])
    assert len(test_keys) == 40
    assert len({r["messages"][0]["content"] for r in test}) == 100  # no repeated test question
    for rec in train + test:
        key = key_of(rec)
        assert key in rec["messages"][0]["content"]
        assert rec["messages"][1]["content"].endswith(f"</think>\n\n{table[key]}")


def test_same_seed_same_data() -> None:
    assert chat_dataset(20, 5, seed=3) == chat_dataset(20, 5, seed=3)
    assert chat_dataset(20, 5, seed=3) != chat_dataset(20, 5, seed=4)


def test_every_key_and_tag_is_one_token() -> None:
    tok = load_tokenizer()
    for w in KEYS + TAGS:
        assert len(tok.tokenize(w)) == 1 and len(tok.tokenize(" " + w)) == 1, w


def test_prose_states_facts_and_never_uses_the_chat_template() -> None:
    rng = random.Random(0)
    docs = [prose_document(rng) for _ in range(50)]
    assert not any("<think>" in d or "<｜" in d for d in docs)
    table = tag_table()
    key = next(iter(table))
    assert any(f"The tag of {key} is {table[key]}." in prose_document(rng) for _ in range(500))
