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


def test_window_decoding_equals_a_full_decode_on_random_tokens() -> None:
    """Random ids split multi-byte characters and merge bytes across tokens: each delta is
    what a full decode every step gives (trailing partial characters held back)."""
    import random

    rng = random.Random(0)
    special = set(TOK.all_special_ids)
    vocab = [i for i in range(len(TOK)) if i not in special]
    for _ in range(50):
        ids = [rng.choice(vocab) for _ in range(rng.randint(1, 40))]
        stream = TextStream(TOK)
        deltas = [stream.update(ids[: i + 1], finished=i == len(ids) - 1) for i in range(len(ids))]
        assert "".join(deltas) == TOK.decode(ids, skip_special_tokens=True)
        assert deltas == _full_decode_deltas(ids)


def _full_decode_deltas(ids: list[int]) -> list[str]:
    out, sent = [], ""
    for i in range(len(ids)):
        text = TOK.decode(ids[: i + 1], skip_special_tokens=True)
        if i < len(ids) - 1:
            text = text.rstrip("\ufffd")
        out.append(text[len(sent) :] if text.startswith(sent) else "")
        sent = max(sent, text, key=len)
    return out


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
