"""Custom rewards loaded from a file or a module, weights, scoring, and the errors a broken
reward or a wrong spec raises (exact text)."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch

from tunesmith.errors import ConfigError
from tunesmith.training.rl.rewards import RewardError, load_reward_functions, score

REWARDS_PY = textwrap.dedent(
    """\
    def by_difficulty(prompts, completions, difficulty, **kwargs):
        return [1.0 if d == "easy" else 0.5 for d in difficulty]


    def named_only(prompts, completions, answer):
        return [float(str(a) in c) for a, c in zip(answer, completions)]


    def trl_style(completions, **kwargs):
        return [None if "skip" in c else 0.25 for c in completions]


    def divide(prompts, completions, **kwargs):
        out = []
        for c in completions:
            out.append(1 / (len(c) - 5))
        return out


    def short(prompts, completions, **kwargs):
        return [1.0]


    def wordy(prompts, completions, **kwargs):
        return [1.0, "yes"]


    def scaled(prompts, completions, *, factor, **kwargs):
        return [factor * len(c) for c in completions]


    NOT_A_FUNCTION = 3
    """
)
PROMPTS = ["q1", "q2"]
COMPLETIONS = ["<think>a</think>42", "hello"]
RECORDS = [{"answer": "42", "difficulty": "easy"}, {"answer": "7", "difficulty": "hard"}]


@pytest.fixture
def rw(tmp_path):
    (tmp_path / "rw.py").write_text(REWARDS_PY)
    return tmp_path


def _load(rw, *specs):
    return load_reward_functions(list(specs), base_dir=rw)


def test_custom_reward_from_a_file_receives_record_fields(rw):
    fns = _load(rw, "rw.py:by_difficulty", "rw.py:named_only", "rw.py:trl_style")
    assert [f.name for f in fns] == ["by_difficulty", "named_only", "trl_style"]
    assert [f.source for f in fns] == ["rw.py:by_difficulty", "rw.py:named_only", "rw.py:trl_style"]
    out = score(fns, PROMPTS, COMPLETIONS + [], RECORDS)
    assert out.per_function == {
        "by_difficulty": [1.0, 0.5],
        "named_only": [1.0, 0.0],
        "trl_style": [0.25, 0.25],
    }


def test_custom_reward_from_a_module(rw, monkeypatch):
    monkeypatch.syspath_prepend(str(rw))
    (fn,) = load_reward_functions([{"function": "rw:by_difficulty", "name": "difficulty"}])
    assert fn.name == "difficulty" and fn.source == "rw:by_difficulty"
    assert score([fn], PROMPTS, COMPLETIONS, RECORDS).per_function["difficulty"] == [1.0, 0.5]


def test_weights_sum_and_none_is_left_out(rw):
    fns = _load(
        rw, {"function": "think_format", "weight": 0.5}, {"function": "accuracy", "weight": 2},
        "rw.py:trl_style",
    )  # fmt: skip
    completions = ["<think>a</think>42", "skip this", "<think>b</think>8"]
    records = [{"answer": "42"}, {}, {"answer": "7"}]
    out = score(fns, ["a", "b", "c"], completions, records)
    assert out.per_function["accuracy"] == [1.0, None, 0.0]
    assert out.per_function["trl_style"] == [0.25, None, 0.25]
    # 0.5 x 1 + 2 x 1 + 0.25 ; 0.5 x 0 (think_format scores it) ; 0.5 x 1 + 0 + 0.25
    assert torch.allclose(out.total, torch.tensor([2.75, 0.0, 0.75]))
    summary = out.summary()
    assert summary["rewards/accuracy/mean"] == 0.5
    assert summary["reward"] == pytest.approx(3.5 / 3)


def test_a_completion_no_function_scores_is_nan(rw):
    out = score(_load(rw, "rw.py:trl_style"), ["a", "b"], ["skip", "ok"], [{}, {}])
    assert math.isnan(out.total[0]) and out.total[1] == 0.25


def test_options_reach_a_custom_function(rw):
    (fn,) = _load(rw, {"function": "rw.py:scaled", "factor": 2.0})
    assert score([fn], ["a"], ["abc"], [{}]).per_function["scaled"] == [6.0]


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("divide", "reward function 'divide' (rw.py:divide) raised on sample 2 of 2: "
         "ZeroDivisionError: division by zero (at rw.py:16 in divide)\n"
         "  prompt: 'q2'\n  completion: 'hello'"),
        ("short", "reward function 'short' (rw.py:short) returned 1 values for 2 completions "
         "(expected a list of 2 floats or None)\n"
         "  prompt: 'q1'\n  completion: '<think>a</think>42'"),
        ("wordy", "reward function 'wordy' (rw.py:wordy) returned 'yes' (str) for sample 2 of "
         "2 (expected a finite float or None)\n"
         "  prompt: 'q2'\n  completion: 'hello'"),
    ],
)  # fmt: skip
def test_a_broken_reward_names_itself_the_sample_and_the_error(rw, function, message):
    """Raising (with the traceback's last line and where), the wrong length, a non-number."""
    fns = _load(rw, "think_format", f"rw.py:{function}")
    with pytest.raises(RewardError) as err:
        score(fns, PROMPTS, COMPLETIONS, RECORDS)
    assert str(err.value) == message


def test_a_reward_needing_a_missing_field(rw):
    with pytest.raises(RewardError) as err:
        score(_load(rw, "accuracy"), PROMPTS, COMPLETIONS, [{"difficulty": "easy"}] * 2)
    assert str(err.value) == (
        "reward function 'accuracy' needs 'answer', which the batch lacks "
        "(record fields: difficulty)"
    )


def test_a_long_sample_is_clipped(rw):
    with pytest.raises(RewardError) as err:
        score(_load(rw, "rw.py:divide"), ["p"], ["x" * 5], [{}])
    assert "completion: 'xxxxx'" in str(err.value)
    with pytest.raises(RewardError) as err:
        score(_load(rw, "rw.py:short"), ["p"] * 2, ["y" * 500] * 2, [{}] * 2)
    assert "completion: '" + "y" * 194 + "...' (502 chars)" in str(err.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("thinkformat", "rewards[0]: unknown reward 'thinkformat' (expected a built-in: "
         "think_format, accuracy, length, repetition; or path/to/file.py:function; "
         "or module:function)"),
        ("nope.py:f", "rewards[0]: reward file 'nope.py' not found (looked in {rw} or {cwd})"),
        ("rw.py:missing", "rewards[0]: 'rw.py' has no function 'missing' (its functions: "
         "by_difficulty, divide, named_only, scaled, short, trl_style, wordy)"),
        ("rw.py:NOT_A_FUNCTION", "rewards[0]: 'rw.py:NOT_A_FUNCTION' is a int, not a function"),
        ("no_such_module_xyz:f", "rewards[0]: importing module 'no_such_module_xyz' failed: "
         "ModuleNotFoundError: No module named 'no_such_module_xyz'"),
        ({"function": "accuracy", "tolerence": 0.1}, "rewards[0]: reward 'accuracy' has no "
         "option 'tolerence' (expected: weight, name, tolerance, math_verify, opened)"),
        ({"function": "length"}, "rewards[0]: reward 'length' needs option 'max_len'"),
        ({"function": "think_format", "weight": "high"},
         "rewards[0].weight: got 'high' (expected a number)"),
        ({"weight": 2}, "rewards[0]: missing `function` (a built-in name or file.py:function)"),
        ({"function": "accuracy", "math_verify": "yes"},
         "rewards[0].math_verify: got 'yes' (expected auto, on or off)"),
    ],
)  # fmt: skip
def test_bad_specs_are_config_errors(rw, spec, message):
    with pytest.raises(ConfigError) as err:
        _load(rw, spec)
    assert str(err.value) == message.format(rw=rw, cwd=__import__("pathlib").Path.cwd())


def test_two_rewards_with_one_name(rw):
    with pytest.raises(ConfigError) as err:
        _load(rw, "accuracy", {"function": "think_format", "name": "accuracy"})
    assert str(err.value) == (
        "rewards[1]: a second reward named 'accuracy' (first: rewards[0]); give one a `name`"
    )


def test_a_file_that_fails_to_import(tmp_path):
    (tmp_path / "broken.py").write_text("import does_not_exist_abc\n")
    with pytest.raises(ConfigError) as err:
        load_reward_functions(["broken.py:f"], base_dir=tmp_path)
    assert str(err.value) == (
        f"rewards[0]: importing '{tmp_path / 'broken.py'}' failed: "
        "ModuleNotFoundError: No module named 'does_not_exist_abc'"
    )


def test_recipe_defaults_fill_builtin_options(rw):
    (fn,) = load_reward_functions(["length"], defaults={"length": {"max_len": 4, "cache_len": 2}})
    out = score([fn], ["p"] * 2, ["a", "b"], [{}, {}], completion_ids=[[1, 2], [1, 2, 3]])
    assert out.per_function["length"] == [0.0, -0.5]


def test_a_reward_failing_only_on_the_whole_batch(tmp_path):
    (tmp_path / "batchy.py").write_text(
        "def pairwise(prompts, completions, **kwargs):\n"
        "    if len(completions) > 1:\n"
        "        raise RuntimeError('batch of ' + str(len(completions)))\n"
        "    return [1.0]\n"
    )
    fns = load_reward_functions(["batchy.py:pairwise"], base_dir=tmp_path)
    with pytest.raises(RewardError) as err:
        score(fns, PROMPTS, COMPLETIONS, RECORDS)
    assert str(err.value) == (
        "reward function 'pairwise' (batchy.py:pairwise) raised on a batch of 2 samples (each "
        "alone passes; the first shown): RuntimeError: batch of 2 (at batchy.py:3 in pairwise)\n"
        "  prompt: 'q1'\n"
        "  completion: '<think>a</think>42'"
    )


def test_inline_options_in_a_string_spec(rw):
    fns = _load(rw, "length(max_len=4, cache_len=2, weight=0.5)", "rw.py:scaled(factor=3)")
    assert [(f.name, f.weight) for f in fns] == [("length", 0.5), ("scaled", 1.0)]
    out = score(fns, ["p"], ["ab"], [{}], completion_ids=[[1, 2, 3]])
    assert out.per_function == {"length": [-0.5], "scaled": [6.0]}
    assert float(out.total[0]) == pytest.approx(5.75)


@pytest.mark.parametrize("spec", ["length(cache_len=)", "length(4)", "length(cache_len=x)"])
def test_unreadable_inline_options(rw, spec):
    with pytest.raises(ConfigError) as err:
        _load(rw, spec)
    assert str(err.value) == (
        f"rewards[0]: cannot read the options of '{spec}' (expected name(key=value, ...) with "
        "literal values, e.g. length(cache_len=32))"
    )


def test_a_custom_reward_naming_a_field_the_records_lack(rw):
    (fn,) = _load(rw, "rw.py:by_difficulty")
    assert fn.needs == ("difficulty",)
    with pytest.raises(RewardError) as err:
        score([fn], PROMPTS, COMPLETIONS, [{"answer": "42"}, {"answer": "7"}])
    assert str(err.value) == (
        "reward function 'by_difficulty' (rw.py:by_difficulty) needs 'difficulty', which the "
        "batch lacks (record fields: answer)"
    )
