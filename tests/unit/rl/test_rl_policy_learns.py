"""The pieces together on a toy policy: sampling groups, scoring them with the built-in
rewards, group advantages and each loss variant raise the reward (no model needed).

The policy is a categorical distribution over four canned completions, one right; every
step samples a group per prompt, takes `num_iterations` clipped updates with the rollout's
log-probs as `old_logps`, exactly as the recipe does with a language model."""

from __future__ import annotations

import pytest
import torch

from tunesmith.training.rl.advantages import constant_groups, group_advantages
from tunesmith.training.rl.losses import PolicyLossConfig, policy_loss
from tunesmith.training.rl.rewards import load_reward_functions, score

CANNED = [
    "<think>\n6 x 7\n= 42\n</think>\n42",  # right, well formed
    "<think>\n6 x 7\n</think>\n41",  # wrong, well formed
    "42",  # right, no reasoning
    "<think>hmm",  # never answers
]
GROUP, PROMPTS, STEPS = 8, 4, 25


def _train(loss_type: str, scale: str, seed: int = 0) -> tuple[float, float]:
    torch.manual_seed(seed)
    logits = torch.zeros(len(CANNED), requires_grad=True)
    opt = torch.optim.SGD([logits], lr=0.5)
    fns = load_reward_functions(["think_format", "accuracy"])
    cfg = PolicyLossConfig(loss_type, 0.2, 0.28 if loss_type == "dapo" else 0.2, 0.0, 1)
    before = float(torch.softmax(logits.detach(), 0)[0])
    for _ in range(STEPS):
        with torch.no_grad():
            picks = torch.multinomial(torch.softmax(logits, 0), PROMPTS * GROUP, replacement=True)
            old = torch.log_softmax(logits, 0)[picks].unsqueeze(1)
        texts = [CANNED[i] for i in picks.tolist()]
        scores = score(fns, ["6 x 7?"] * len(texts), texts, [{"answer": "42"}] * len(texts))
        adv = group_advantages(scores.total, GROUP, scale)
        keep = ~constant_groups(scores.total, GROUP).repeat_interleave(GROUP)
        for _ in range(2):  # num_iterations
            logps = torch.log_softmax(logits, 0)[picks].unsqueeze(1)
            loss, _ = policy_loss(
                logps[keep], old[keep], adv[keep], torch.ones_like(old[keep]), cfg
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    return before, float(torch.softmax(logits.detach(), 0)[0])


@pytest.mark.parametrize(
    ("loss_type", "scale"),
    [("grpo", "group"), ("dr_grpo", "none"), ("dapo", "group"), ("gspo", "batch")],
)
def test_each_variant_raises_the_probability_of_the_rewarded_completion(loss_type, scale):
    before, after = _train(loss_type, scale)
    assert before == 0.25
    assert after > 0.9, (loss_type, after)
