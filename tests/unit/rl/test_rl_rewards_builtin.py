"""Built-in rewards: think_format, accuracy, length, repetition."""

from __future__ import annotations

import re

import pytest

from tunesmith.training.rl.rewards import answers
from tunesmith.training.rl.rewards import builtins as R

MULTI_LINE = "<think>\nFirst, 6 x 7.\nThat is 42.\n</think>\n\nThe answer is 42."


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        (MULTI_LINE, 1.0),
        ("<think>short</think>42", 1.0),
        ("  <think>\n\nstep\n\n</think>\n\n42\n", 1.0),
        ("<think>\nreasoning\n</think>\n", 0.0),  # no answer after the block
        ("<think>   </think>42", 0.0),  # empty reasoning
        ("<think>a</think>b<think>c</think>d", 0.0),  # two blocks
        ("<think>a</think>b</think>", 0.0),  # a stray close
        ("<think>\nnever closed\n42", 0.0),
        ("Sure! <think>a</think>42", 0.0),  # text before the block
        ("42", 0.0),
        ("", 0.0),
    ],
)
def test_think_format(completion, reward):
    assert R.think_format(["p"], [completion]) == [reward]


def test_think_format_matches_a_multi_line_block_that_a_regex_without_dotall_misses():
    """The competitors' bug: `.` without DOTALL stops at a newline, so every real R1
    completion scored 0. Ours scores it 1."""
    assert re.match(r"^<think>.*?</think>.*$", MULTI_LINE) is None
    assert R.think_format(["p"], [MULTI_LINE]) == [1.0]


def test_think_format_after_a_prompt_that_opened_the_block():
    out = R.think_format(["p", "p"], ["steps\n</think>\n42", "<think>x</think>42"], opened=True)
    assert out == [1.0, 0.0]


@pytest.mark.parametrize(
    ("completion", "gold", "reward"),
    [
        (MULTI_LINE, "42", 1.0),  # the number of "The answer is 42."
        ("<think>6*7=42? no, 43</think>The answer is 41.", "42", 0.0),  # only after </think>
        ("<think>x</think> Paris. ", "paris", 1.0),  # normalised text
        ("<think>x</think> Lyon", "Paris", 0.0),
        ("<think>x</think>1,234", 1234, 1.0),  # thousands separators, numeric gold
        ("<think>x</think>0.3333", "1/3", 0.0),  # 1e-6 tolerance
        ("<think>x</think>0.3333333", "1/3", 1.0),
        ("<think>x</think>-2.50", "-2.5", 1.0),
        ("<think>x</think>So \\boxed{7} it is, not 8", "7", 1.0),  # boxed wins
        ("<think>x</think>$x = 5$", "5", 1.0),
        ("<think>x</think>12", "Natalia sold 48/2 = 24 clips.\n#### 72", 0.0),  # GSM8K gold
        ("<think>x</think>72", "Natalia sold 48/2 = 24 clips.\n#### 72", 1.0),
        ("<think>x</think>blue", ["red", "Blue"], 1.0),  # a list of accepted answers
        ("<think>\nunclosed 42", "42", 0.0),  # no answer given
        ("42", "42", 1.0),  # no think block: the whole text is the answer
    ],
)
def test_accuracy(completion, gold, reward):
    assert R.accuracy(["p"], [completion], answer=[gold], math_verify="off") == [reward]


def test_accuracy_is_none_without_a_gold_answer():
    assert R.accuracy(["p", "p"], ["4", "4"], answer=[None, "4"]) == [None, 1.0]
    assert R.accuracy(["p"], ["4"]) == [None]


def test_accuracy_tolerance_option():
    out = R.accuracy(["p"] * 2, ["3.14", "3.2"], answer=[3.14159] * 2, tolerance=0.01)
    assert out == [1.0, 0.0]


def test_accuracy_uses_math_verify_for_latex_when_installed():
    pytest.importorskip("math_verify")
    completions = ["<think>x</think>$\\frac{2}{6}$", "<think>x</think>$\\sqrt{4}$",
                   "<think>x</think>$\\frac{1}{2}$"]  # fmt: skip
    golds = ["\\frac{1}{3}", "2", "\\frac{1}{3}"]
    assert R.accuracy(["p"] * 3, completions, answer=golds, math_verify="on") == [1.0, 1.0, 0.0]
    assert R.accuracy(["p"] * 3, completions, answer=golds, math_verify="off") == [0.0, 0.0, 0.0]


def test_accuracy_without_math_verify_falls_back_to_text_and_numbers(monkeypatch):
    monkeypatch.setattr(answers, "_math_verify", lambda: None)
    out = R.accuracy(["p"] * 2, ["$\\frac{2}{6}$", "$\\frac{1}{3}$"], answer=["\\frac{1}{3}"] * 2)
    assert out == [0.0, 1.0]


def test_length_is_dapos_soft_overlong_punishment_on_token_counts():
    ids = [[1] * n for n in (10, 17, 20, 21)]
    out = R.length(["p"] * 4, ["x"] * 4, completion_ids=ids, max_len=20, cache_len=4)
    assert out == pytest.approx([0.0, -0.25, -1.0, -1.0])


def test_length_needs_completion_ids():
    with pytest.raises(ValueError, match=r"the 'length' reward counts completion tokens"):
        R.length(["p"], ["x"], max_len=20)


def test_repetition_on_tokens_equals_trls():
    rewards = pytest.importorskip("trl.rewards")
    ids = [[1, 2, 3, 4], [5, 5, 5, 5, 5], [1, 2, 1, 2, 1, 2, 3], [7], []]
    theirs = rewards.get_repetition_penalty_reward(ngram_size=2, max_penalty=-0.5)(ids)
    ours = R.repetition(["p"] * 5, ["x"] * 5, completion_ids=ids, ngram_size=2, max_penalty=-0.5)
    assert ours == pytest.approx(theirs)
    assert ours == pytest.approx([0.0, -0.375, -0.25, 0.0, 0.0])


def test_repetition_on_words():
    texts = ["the cat sat on the mat", "go go go go go", "Go go GO"]
    out = R.repetition(["p"] * 3, texts, ngram_size=2, unit="words")
    assert out == pytest.approx([0.0, -0.75, -0.5])
