"""Incremental detokenizing with stop strings, and the reasoning split, delta by delta."""

from __future__ import annotations

from tunesmith.serve.text import ReasoningSplit, TextStream
from tunesmith.tokenize.templates import load_tokenizer

TOK = load_tokenizer()


def _feed(stream: TextStream, text: str) -> list[str]:
    ids = TOK.encode(text, add_special_tokens=False)
    return [stream.update(ids[: i + 1], finished=i == len(ids) - 1) for i in range(len(ids))]


def test_deltas_add_up_to_the_text() -> None:
    text = "The tag of time is wrong. Ünïcødé ✓"
    assert "".join(_feed(TextStream(TOK), text)) == text


def test_stop_string_cuts_the_text_and_holds_back_its_prefix() -> None:
    stream = TextStream(TOK, stop=["is wrong"])
    deltas = _feed(stream, "The time is wrong. More")
    assert "".join(deltas) == "The time "
    assert stream.stopped
    assert all("is" not in d for d in deltas)  # "is" was held back, then dropped


def test_held_back_prefix_is_released_when_it_is_not_a_stop() -> None:
    stream = TextStream(TOK, stop=["is wrong"])
    assert "".join(_feed(stream, "The time is right")) == "The time is right"
    assert not stream.stopped


def test_reasoning_split_whole_and_incremental() -> None:
    text = "<think>\nLet me see.\nIt is 5.\n</think>\n\nFive."
    assert ReasoningSplit().split(text) == ("Let me see.\nIt is 5.", "Five.")
    assert ReasoningSplit().split("Just an answer") == (None, "Just an answer")
    assert ReasoningSplit(started=True).split("thinking</think>done") == ("thinking", "done")
    split, reasoning, content = ReasoningSplit(), "", ""
    for i in range(1, len(text) + 1):
        r, c = split.update(text[:i], final=i == len(text))
        reasoning, content = reasoning + r, content + c
    assert (reasoning, content) == ("Let me see.\nIt is 5.", "Five.")
