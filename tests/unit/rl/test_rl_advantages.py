"""Group-relative advantages, DAPO dynamic sampling, soft overlong penalty, overlong filter."""

from __future__ import annotations

import math

import pytest
import torch

from tunesmith.training.rl.advantages import (
    constant_groups,
    group_advantages,
    mask_truncated,
    nanstd,
    overlong_penalty,
)

NAN = math.nan
# two groups of four: accuracy 3/4, and four equal rewards
REWARDS = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5])


def test_group_scale_divides_by_the_group_std():
    # group 1: mean 0.75, sample std 0.5 -> (r - 0.75) / 0.5001
    expected = torch.tensor([0.25, -0.75, 0.25, 0.25, 0, 0, 0, 0]) / 0.5001
    assert torch.allclose(group_advantages(REWARDS, 4), expected, atol=1e-6)


def test_batch_scale_divides_by_the_batch_std():
    # batch mean 0.625, squared deviations 0.875 over 7 -> std sqrt(0.125)
    expected = torch.tensor([0.25, -0.75, 0.25, 0.25, 0, 0, 0, 0]) / (math.sqrt(0.125) + 1e-4)
    assert torch.allclose(group_advantages(REWARDS, 4, "batch"), expected, atol=1e-6)


def test_none_scale_only_centres():
    expected = torch.tensor([0.25, -0.75, 0.25, 0.25, 0, 0, 0, 0])
    assert torch.allclose(group_advantages(REWARDS, 4, "none"), expected, atol=1e-7)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_equal_rewards_give_zero_advantage_and_no_nan(scale):
    adv = group_advantages(torch.full((6,), 0.7), 3, scale)
    assert torch.equal(adv, torch.zeros(6))


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_unscored_completions_are_left_out_and_get_zero(scale):
    """NaN (no reward function applied) is not counted in its group's mean: [1, 0, NaN]
    centres on 0.5; a group with one scored value or none has no signal."""
    r = torch.tensor([1.0, 0.0, NAN, 2.0, NAN, NAN, NAN, NAN, NAN])
    adv = group_advantages(r, 3, scale)
    assert not torch.isnan(adv).any()
    centred = torch.tensor([0.5, -0.5, 0.0])
    denom = {"group": math.sqrt(0.5) + 1e-4, "batch": float(nanstd(r)) + 1e-4, "none": 1.0}
    assert torch.allclose(adv[:3], centred / denom[scale], atol=1e-6)
    assert torch.equal(adv[3:], torch.zeros(6))


def test_nanstd_equals_trls():
    trl_utils = pytest.importorskip("trl.trainer.utils")
    x = torch.tensor([[1.0, NAN, 3.0, 4.0], [NAN, NAN, 2.0, NAN], [0.5, 0.25, 0.0, 9.0]])
    assert torch.allclose(nanstd(x, dim=1), trl_utils.nanstd(x, dim=1), equal_nan=True)
    assert torch.allclose(nanstd(x), trl_utils.nanstd(x), equal_nan=True)


def test_rewards_that_do_not_split_into_groups_are_an_error():
    with pytest.raises(ValueError, match=r"7 rewards do not split into groups of group_size=4"):
        group_advantages(torch.zeros(7), 4)
    with pytest.raises(ValueError, match=r"unknown advantage scale 'std'"):
        group_advantages(torch.zeros(8), 4, "std")


def test_dynamic_sampling_flags_groups_of_equal_rewards():
    """DAPO drops groups that are all right, all wrong, equal, unscored or singly scored."""
    r = torch.tensor(
        [1.0, 1.0, 1.0,  0.0, 0.0, 0.0,  1.0, 0.0, 1.0,  0.3, 0.3 + 1e-9, 0.3,
         NAN, NAN, NAN,  1.0, NAN, NAN,  1.0, NAN, 0.0]
    )  # fmt: skip
    assert constant_groups(r, 3).tolist() == [True, True, False, True, True, True, False]


def test_soft_overlong_penalty_follows_dapo_eq13():
    lengths = torch.tensor([0, 80, 81, 90, 99, 100, 101, 500])
    expected = [0.0, 0.0, -0.05, -0.5, -0.95, -1.0, -1.0, -1.0]
    assert overlong_penalty(lengths, 100, 20).tolist() == pytest.approx(expected)
    assert overlong_penalty(lengths, 100, 20, factor=0.5).tolist() == pytest.approx(
        [v / 2 for v in expected]
    )
    assert overlong_penalty(lengths, 100, 0).tolist() == [0, 0, 0, 0, 0, 0, -1, -1]


def test_soft_overlong_penalty_equals_trls():
    rewards = pytest.importorskip("trl.rewards")
    ids = [[1] * n for n in (3, 70, 75, 88, 100, 101)]
    theirs = rewards.get_soft_overlong_punishment(100, 30)(ids)
    ours = overlong_penalty(torch.tensor([len(i) for i in ids]), 100, 30)
    assert ours.tolist() == pytest.approx(theirs, abs=1e-6)


def test_overlong_filter_masks_truncated_rows():
    mask = torch.ones(3, 4)
    out = mask_truncated(mask, torch.tensor([False, True, False]))
    assert out.tolist() == [[1] * 4, [0] * 4, [1] * 4]
