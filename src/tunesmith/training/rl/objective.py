"""The GRPO family's objective on one micro-batch of completions, and the reference model.

`PolicyObjective` is an `Objective` (training/loss.py): a micro-batch carries its packed
sequences (training/rl/batch.py), one advantage per completion, the old log-probs (None:
the policy's own, detached: the first update of a rollout batch) and the reference log-probs
(None without a KL term). `policy_loss` (training/rl/losses.py) gives the micro-batch's
mean; the objective returns it times the micro-batch's `weight` (completions, or completion
tokens for dapo's token-level mean), so `accumulate_gradients` turns the sums into the mean
over the whole rollout batch, every process and micro-batch together.

Reference (grpo.beta > 0): for an adapter method the same model with its adapter disabled
(PEFT `disable_adapter`: nothing copied); for full fine-tuning a frozen copy of the initial
weights; none at all when beta is 0.
"""

from __future__ import annotations

import copy

import torch
from peft import PeftModel

from tunesmith.adapters.peft_setup import ADAPTER_METHODS
from tunesmith.errors import ConfigError
from tunesmith.training.loss import Terms
from tunesmith.training.rl.batch import token_logps
from tunesmith.training.rl.losses import PolicyLossConfig, policy_loss

STAT_KEYS = (
    "clip_ratio/low_mean",
    "clip_ratio/high_mean",
    "clip_ratio/region_mean",
    "kl",
    "entropy",
)


def reference_mode(beta: float, method: str) -> str:
    """none (beta 0), adapter (an adapter method: the base with the adapter disabled) or
    copy (a frozen copy of the initial weights)."""
    if beta == 0:
        return "none"
    return "adapter" if method in ADAPTER_METHODS else "copy"


class Reference:
    """Per-token reference log-probs of a micro-batch (see the module docstring)."""

    def __init__(self, mode: str, model: torch.nn.Module | None = None) -> None:
        self.mode = mode
        self.frozen = None
        if mode == "copy":
            assert model is not None
            self.frozen = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def logps(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], temperature: float
    ) -> torch.Tensor | None:
        if self.mode == "none":
            return None
        if self.mode == "copy":
            return token_logps(self.frozen, batch, temperature)[0]
        while not isinstance(model, PeftModel) and hasattr(model, "module"):
            model = model.module
        if not isinstance(model, PeftModel):
            raise ConfigError("grpo.beta: the adapter reference needs a model with an adapter")
        was_training = model.training
        model.eval()
        try:
            with model.disable_adapter():
                return token_logps(model, batch, temperature)[0]
        finally:
            model.train(was_training)


class PolicyObjective:
    """grpo.loss_type on a micro-batch of completions (see the module docstring)."""

    def __init__(self, cfg: PolicyLossConfig, temperature: float) -> None:
        self.cfg, self.temperature = cfg, temperature

    def weight(self, batch: dict[str, torch.Tensor]) -> int:
        if self.cfg.loss_type == "dapo":
            return int(batch["token_count"])
        return int(batch["completion_count"])

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Terms:
        logps, mask, ent = token_logps(model, batch, self.temperature, entropy=True)
        mask = mask * batch["train_mask"].to(mask.device)[:, : mask.shape[1]]
        old = batch.get("old_logps")
        old = logps.detach() if old is None else old.to(logps.device)[:, : logps.shape[1]]
        ref = batch.get("ref_logps")
        ref = None if ref is None else ref.to(logps.device)[:, : logps.shape[1]]
        adv = batch["advantages"].to(logps.device)
        loss, stats = policy_loss(logps, old, adv, mask, self.cfg, ref, entropies=ent)
        w = float(self.weight(batch))
        logs = {k: torch.tensor(v * w) for k, v in stats.items() if k in STAT_KEYS}
        return Terms(loss * w, loss * w, logs)
