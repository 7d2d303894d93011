"""Exact ids and loss labels: assistant-only masks, multi-turn, reasoning, truncation."""

from __future__ import annotations

import pytest

from tunesmith.records import Conversation, Message
from tunesmith.tokenize import (
    EncodedSample,
    encode_conversation,
    encode_segments,
    load_tokenizer,
    render,
    render_segments,
)

X = -100


def conv(*turns: tuple) -> Conversation:
    return Conversation(messages=[Message(*t) for t in turns])


HELLO = conv(("user", "Hi there!"), ("assistant", "Hello, how can I help?"))
# <bos> <User> H i Ġthere ! <Assistant> | H el lo , Ġhow Ġcan ĠI Ġhel p ? <eos>
HELLO_IDS = [0, 3, 46, 79, 591, 7, 4, 46, 294, 409, 18, 603, 966, 646, 859, 86, 37, 1]
HELLO_LABELS = [X] * 7 + HELLO_IDS[7:]

SUMS = conv(
    ("user", "1+1?"),
    ("assistant", "2", "one and one"),
    ("user", "2+2?"),
    ("assistant", "4", "two and two"),
)
# <bos> <User> 1 + 1 ? <Assistant> | 2 <eos> | <User> 2 + 2 ? <Assistant>
#   | <think> Ċ two Ġand Ġtwo Ċ </think> ĊĊ 4 <eos>
SUMS_IDS = [0, 3, 23, 17, 23, 37, 4, 24, 1, 3, 24, 17, 24, 37, 4]
SUMS_IDS += [5, 205, 1812, 1213, 1042, 205, 6, 1324, 26, 1]
SUMS_LABELS = [X] * 7 + [24, 1] + [X] * 6 + SUMS_IDS[15:]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_single_turn_exact_ids_and_labels(tok) -> None:
    assert encode_conversation(tok, HELLO, 64) == EncodedSample(HELLO_IDS, HELLO_LABELS, False)


def test_multi_turn_trains_every_assistant_turn_history_without_reasoning(tok) -> None:
    enc = encode_conversation(tok, SUMS, 64)
    assert enc == EncodedSample(SUMS_IDS, SUMS_LABELS, False)
    # the first answer's reasoning ("one and one") is history: not rendered, not trained
    assert "one" not in tok.decode(enc.input_ids)


def test_reasoning_of_the_last_turn_is_trained_with_think_tags(tok) -> None:
    enc = encode_conversation(tok, conv(("user", "q"), ("assistant", "a", "r")), 64)
    trained = [i for i, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != X]
    assert tok.decode(trained) == "<think>\nr\n</think>\n\na<｜end▁of▁sentence｜>"
    assert trained[0] == tok.convert_tokens_to_ids("<think>")


def test_system_prompt_is_masked(tok) -> None:
    enc = encode_conversation(
        tok, conv(("system", "Be nice."), *((m.role, m.content) for m in HELLO.messages)), 64
    )
    n_system = len(tok.encode("Be nice.", add_special_tokens=False))
    assert enc.input_ids == HELLO_IDS[:1] + enc.input_ids[1 : 1 + n_system] + HELLO_IDS[1:]
    assert enc.labels == [X] * (7 + n_system) + HELLO_IDS[7:]


def test_train_on_prompt_trains_everything_but_bos(tok) -> None:
    enc = encode_conversation(tok, SUMS, 64, train_on_prompt=True)
    assert enc.labels == [X] + SUMS_IDS[1:]


def test_text_sample_trains_everything_but_bos(tok) -> None:
    enc = encode_conversation(tok, Conversation(text="Plain text, 42."), 64)
    assert enc.input_ids == [0, 54, 737, 275, 330, 90, 18, 227, 26, 24, 20, 1]
    assert enc.labels == [X] + enc.input_ids[1:]


@pytest.mark.parametrize(
    "sample",
    [HELLO, SUMS, conv(("system", "S"), ("user", "<think>x</think> 12"), ("assistant", "ü 😀\n"))],
)
def test_segment_ids_equal_whole_string_ids(tok, sample: Conversation) -> None:
    ids, _ = encode_segments(tok, render_segments(sample))
    assert ids == tok.encode(render(sample), add_special_tokens=False)
    assert tok.decode(ids) == render(sample)


def test_truncation_right_keeps_the_head(tok) -> None:
    enc = encode_conversation(tok, SUMS, 10, truncation="right")
    assert enc == EncodedSample(SUMS_IDS[:10], SUMS_LABELS[:10], True)


def test_truncation_left_keeps_bos_and_the_tail(tok) -> None:
    enc = encode_conversation(tok, SUMS, 10, truncation="left")
    assert enc == EncodedSample([0] + SUMS_IDS[-9:], [X] + SUMS_LABELS[-9:], True)


def test_truncation_drop_and_exact_fit(tok) -> None:
    assert encode_conversation(tok, SUMS, len(SUMS_IDS) - 1, truncation="drop") is None
    fit = encode_conversation(tok, SUMS, len(SUMS_IDS), truncation="drop")
    assert fit == EncodedSample(SUMS_IDS, SUMS_LABELS, False)


def test_no_trainable_label_gives_none(tok) -> None:
    # right truncation that keeps only the prompt
    assert encode_conversation(tok, HELLO, 7, truncation="right") is None
    # no assistant turn at all, unless the prompt is trained
    question = conv(("user", "Hi there!"))
    assert encode_conversation(tok, question, 64) is None
    assert (
        encode_conversation(tok, question, 64, train_on_prompt=True).labels == [X] + HELLO_IDS[1:6]
    )


def test_bad_arguments(tok) -> None:
    with pytest.raises(ValueError, match="truncation: 'middle'"):
        encode_conversation(tok, HELLO, 64, truncation="middle")
    with pytest.raises(ValueError, match="max_len: 1"):
        encode_conversation(tok, HELLO, 1)
