"""DeepSeek-R1 rendering: exact strings, and the Jinja template equals the Python renderer."""

from __future__ import annotations

import pytest

from tunesmith.data.types import Conversation, Message
from tunesmith.tokenize import (
    Segment,
    load_tokenizer,
    render,
    render_prompt,
    render_segments,
    to_chat_messages,
)

B, E = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
U, A = "<｜User｜>", "<｜Assistant｜>"


def conv(*turns: tuple) -> Conversation:
    return Conversation(messages=[Message(*t) for t in turns])


SINGLE = conv(("user", "Hi"), ("assistant", "Hello!"))
SYSTEM = conv(
    ("system", "Be brief."), ("system", "Use SI units."), ("user", "g?"), ("assistant", "9.8")
)
MULTI = conv(("user", "1+1?"), ("assistant", "2"), ("user", "2+2?"), ("assistant", "4"))
REASONING = conv(
    ("user", "1+1?"),
    ("assistant", "2", "one and one"),
    ("user", "and 2+2?"),
    ("assistant", "4", "two and two"),
)
INLINE_THINK = conv(
    ("user", "q1"),
    ("assistant", "<think>\nhidden\n</think>\n\na1"),
    ("user", "q2"),
    ("assistant", "<think>kept</think>a2"),
)
EMPTY_REASONING = conv(("user", "q"), ("assistant", "a", ""))
OPEN_ENDED = conv(("system", "S"), ("user", "q1"), ("assistant", "a1", "r1"), ("user", "q2"))

# name: (conversation, rendering, rendering with add_generation_prompt=True)
EXPECTED = {
    "single": (SINGLE, f"{B}{U}Hi{A}Hello!{E}", f"{B}{U}Hi{A}Hello!{E}{A}"),
    "system": (
        SYSTEM,
        f"{B}Be brief.\n\nUse SI units.{U}g?{A}9.8{E}",
        f"{B}Be brief.\n\nUse SI units.{U}g?{A}9.8{E}{A}",
    ),
    "multi": (MULTI, f"{B}{U}1+1?{A}2{E}{U}2+2?{A}4{E}", f"{B}{U}1+1?{A}2{E}{U}2+2?{A}4{E}{A}"),
    "reasoning": (
        REASONING,
        f"{B}{U}1+1?{A}2{E}{U}and 2+2?{A}<think>\ntwo and two\n</think>\n\n4{E}",
        f"{B}{U}1+1?{A}2{E}{U}and 2+2?{A}4{E}{A}",
    ),
    "inline_think": (
        INLINE_THINK,
        f"{B}{U}q1{A}a1{E}{U}q2{A}<think>kept</think>a2{E}",
        f"{B}{U}q1{A}a1{E}{U}q2{A}a2{E}{A}",
    ),
    "empty_reasoning": (
        EMPTY_REASONING,
        f"{B}{U}q{A}<think>\n\n</think>\n\na{E}",
        f"{B}{U}q{A}a{E}{A}",
    ),
    "open_ended": (
        OPEN_ENDED,
        f"{B}S{U}q1{A}<think>\nr1\n</think>\n\na1{E}{U}q2",
        f"{B}S{U}q1{A}a1{E}{U}q2{A}",
    ),
}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_python_rendering_is_exact(name: str) -> None:
    sample, expected, with_prompt = EXPECTED[name]
    assert render(sample) == expected
    # a generation prompt makes the new turn the last one: every earlier turn is history
    assert render(sample, add_generation_prompt=True) == with_prompt


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("gen", [False, True])
def test_jinja_template_equals_python_renderer(tok, name: str, gen: bool) -> None:
    sample = EXPECTED[name][0]
    jinja = tok.apply_chat_template(
        to_chat_messages(sample), tokenize=False, add_generation_prompt=gen
    )
    assert jinja == render(sample, add_generation_prompt=gen)


def test_jinja_reads_openai_reasoning_aliases(tok) -> None:
    for key in ("reasoning_content", "reasoning"):
        messages = [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", key: "r"},
        ]
        rendered = tok.apply_chat_template(messages, tokenize=False)
        assert rendered == f"{B}{U}q{A}<think>\nr\n</think>\n\na{E}"


def test_jinja_rejects_unknown_roles(tok) -> None:
    with pytest.raises(Exception, match="unsupported role 'function'"):
        tok.apply_chat_template([{"role": "function", "content": "x"}], tokenize=False)
    with pytest.raises(ValueError, match="unsupported role 'function'"):
        render(conv(("function", "x")))


def test_chat_template_tokenizes_to_the_rendered_ids(tok) -> None:
    ids = tok.apply_chat_template(to_chat_messages(REASONING), tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert ids == tok.encode(render(REASONING), add_special_tokens=False)
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1


def test_segments_flag_assistant_turns_and_their_eos() -> None:
    assert render_segments(REASONING) == [
        Segment(B, False),
        Segment(f"{U}1+1?", False),
        Segment(A, False),
        Segment(f"2{E}", True),
        Segment(f"{U}and 2+2?", False),
        Segment(A, False),
        Segment(f"<think>\ntwo and two\n</think>\n\n4{E}", True),
    ]
    assert render_segments(SYSTEM)[1] == Segment("Be brief.\n\nUse SI units.", False)


def test_text_sample_renders_with_bos_and_eos() -> None:
    sample = Conversation(text="Plain text.")
    assert render_segments(sample) == [Segment(B, False), Segment(f"Plain text.{E}", True)]
    with pytest.raises(ValueError, match="text sample has no prompt"):
        render_prompt(sample)


def test_render_prompt_stops_before_the_last_assistant_turn() -> None:
    assert render_prompt(SINGLE) == f"{B}{U}Hi{A}"
    assert render_prompt(REASONING) == f"{B}{U}1+1?{A}2{E}{U}and 2+2?{A}"
    assert (
        render_prompt(SYSTEM, add_generation_prompt=False) == f"{B}Be brief.\n\nUse SI units.{U}g?"
    )
    # earlier assistant turns are history there: their reasoning is dropped
    two = conv(("user", "q1"), ("assistant", "a1", "r1"), ("user", "q2"), ("assistant", "a2", "r2"))
    assert render_prompt(two) == f"{B}{U}q1{A}a1{E}{U}q2{A}"
    assert render_prompt(OPEN_ENDED) == f"{B}S{U}q1{A}"
