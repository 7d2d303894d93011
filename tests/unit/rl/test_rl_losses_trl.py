"""Every GRPO loss variant equals TRL's GRPOTrainer on the same log-probs (TRL: test-only).

TRL computes the loss in `GRPOTrainer._compute_loss` after a model forward: it is called
here on a lightweight stand-in for the trainer whose `_get_per_token_logps_and_entropies`
returns the given per-token log-probs, so both sides see identical tensors. Loss values,
gradients with respect to the log-probs and the logged metrics (kl, entropy, clip ratios)
must agree to 1e-6.
"""

from __future__ import annotations

import types
from collections import defaultdict

import pytest
import torch

from tunesmith.training.rl.losses import PolicyLossConfig, policy_loss

trl_grpo = pytest.importorskip("trl.trainer.grpo_trainer")

B, T = 6, 7
ATOL = 1e-6
# ours -> (TRL loss_type, importance_sampling_level)
TRL_NAMES = {
    "grpo": ("grpo", "token"),
    "dr_grpo": ("dr_grpo", "token"),
    "dapo": ("dapo", "token"),
    "gspo": ("grpo", "sequence"),
}


class _Accel:
    num_processes = 1

    def gather(self, t):
        return t

    gather_for_metrics = gather

    def reduce(self, t, reduction="sum"):
        return t


def _inputs(seed: int = 0):
    """Per-token log-probs with gradient, old log-probs far enough away that both clip
    bounds bite, a reference, entropies, a ragged mask (one row of a single token) and
    advantages of both signs (one zero)."""
    gen = torch.Generator().manual_seed(seed)
    logps = (-torch.rand(B, T, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    old = logps.detach() + torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.3
    ref = logps.detach() + torch.randn(B, T, generator=gen, dtype=torch.float64) * 0.2
    ent = torch.rand(B, T, generator=gen, dtype=torch.float64) * 2
    lengths = torch.tensor([7, 5, 1, 3, 6, 4])
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    adv = torch.tensor([1.2, -0.7, 0.4, -1.5, 0.0, 0.9], dtype=torch.float64)
    return logps, old, ref, ent, mask, adv


def _trl(loss_type, cfg: PolicyLossConfig, logps, old, ref, ent, mask, adv, *,
         num_items=None, accumulation=1):  # fmt: skip
    trl_type, level = TRL_NAMES[loss_type]
    fake = types.SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, ent, None),
        top_entropy_quantile=1.0, off_policy_mask_threshold=None,
        importance_sampling_level=level, loss_type=trl_type, beta=cfg.beta,
        epsilon_low=cfg.epsilon_low, epsilon_high=cfg.epsilon_high,
        max_completion_length=cfg.max_completion_length,
        args=types.SimpleNamespace(
            use_bias_correction_kl=False, delta=None, steps_per_generation=accumulation
        ),
        use_vllm=False, vllm_importance_sampling_correction=False,
        model=types.SimpleNamespace(training=True), accelerator=_Accel(),
        current_gradient_accumulation_steps=accumulation, _entropy_bonus_enabled=False,
        aux_loss_enabled=False, _metrics=defaultdict(lambda: defaultdict(list)),
    )  # fmt: skip
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
        "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": mask,
        "advantages": adv,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": torch.tensor(float(mask.sum() if num_items is None else num_items)),
    }
    loss = trl_grpo.GRPOTrainer._compute_loss(fake, None, inputs)
    return loss, {k: v[0] for k, v in fake._metrics["train"].items()}


def _grad(loss: torch.Tensor, logps: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(loss, logps)
    return g


CASES = [
    ("grpo", 0.2, 0.2, 0.0),
    ("grpo", 0.2, 0.2, 0.04),
    ("dr_grpo", 0.2, 0.2, 0.0),
    ("dr_grpo", 0.2, 0.2, 0.1),
    ("dapo", 0.2, 0.28, 0.0),
    ("dapo", 0.2, 0.28, 0.04),
    ("gspo", 3e-4, 4e-4, 0.0),
    ("gspo", 0.05, 0.1, 0.04),
]


@pytest.mark.parametrize(("loss_type", "eps_low", "eps_high", "beta"), CASES)
def test_policy_loss_equals_trl_grpo_trainer(loss_type, eps_low, eps_high, beta):
    logps, old, ref, ent, mask, adv = _inputs()
    cfg = PolicyLossConfig(loss_type, eps_low, eps_high, beta, max_completion_length=T + 3)
    ours, stats = policy_loss(logps, old, adv, mask, cfg, ref if beta else None, entropies=ent)
    theirs, metrics = _trl(loss_type, cfg, logps, old, ref, ent, mask, adv)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), abs=ATOL)
    assert torch.allclose(_grad(ours, logps), _grad(theirs, logps), atol=ATOL)
    for key in ("clip_ratio/low_mean", "clip_ratio/high_mean", "clip_ratio/region_mean", "entropy"):
        assert stats[key] == pytest.approx(metrics[key], abs=ATOL), key
    if beta:
        assert stats["kl"] == pytest.approx(metrics["kl"], abs=ATOL)
    else:
        assert "kl" not in stats and "kl" not in metrics


def test_the_cases_clip_on_both_sides():
    """The inputs above exercise both clip bounds, so the clip terms are really compared."""
    logps, old, _, _, mask, adv = _inputs()
    _, stats = policy_loss(logps, old, adv, mask, PolicyLossConfig("grpo"))
    assert stats["clip_ratio/low_mean"] > 0 and stats["clip_ratio/high_mean"] > 0


def test_dapo_micro_batch_divides_by_the_whole_batch_token_count():
    """One micro-batch of a rollout batch split in two: DAPO's token mean is over all 50
    tokens of the batch, as TRL's num_items_in_batch with two accumulation steps."""
    logps, old, ref, ent, mask, adv = _inputs(1)
    cfg = PolicyLossConfig("dapo", 0.2, 0.28)
    ours, _ = policy_loss(logps, old, adv, mask, cfg, num_tokens=50)
    theirs, _ = _trl("dapo", cfg, logps, old, ref, ent, mask, adv, num_items=50, accumulation=2)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), abs=ATOL)
    alone, _ = policy_loss(logps, old, adv, mask, cfg)
    assert float(ours.detach()) == pytest.approx(
        float(alone.detach()) * int(mask.sum()) / 50, abs=ATOL
    )


def test_first_update_of_a_rollout_is_the_plain_policy_gradient():
    """old = logps.detach(): ratio 1, nothing clipped; the grpo loss is -mean(A) and its
    gradient A / (B x sequence length) on each completion token."""
    logps, _, _, _, mask, adv = _inputs(2)
    loss, stats = policy_loss(logps, logps.detach(), adv, mask, PolicyLossConfig())
    assert float(loss.detach()) == pytest.approx(-float(adv.mean()), abs=ATOL)
    expected = -adv[:, None] * mask / mask.sum(-1, keepdim=True) / B
    assert torch.allclose(_grad(loss, logps), expected, atol=ATOL)
    assert stats["clip_ratio/region_mean"] == 0.0


def test_beta_without_reference_is_an_error():
    logps, old, _, _, mask, adv = _inputs()
    with pytest.raises(ValueError, match=r"beta=0.04 needs the reference log-probs"):
        policy_loss(logps, old, adv, mask, PolicyLossConfig(beta=0.04))


def test_unknown_loss_type_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown loss_type 'ppo' \(expected one of grpo, "
                       r"dr_grpo, dapo, gspo\)"):  # fmt: skip
        PolicyLossConfig("ppo")
