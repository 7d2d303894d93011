"""The preference objective of one micro-batch, and its evaluation on held-out items.

Training (`PreferenceObjective`, the `Objective` of training/loss.py): one forward of the
packed chosen + rejected sequences, the reference log-probs (training/preference/reference.py),
the loss of `preference.loss`. The accumulation divides every sum by the item count of the
whole window (all ranks), so the step's loss is the mean over pairs (sequences for KTO) however
the window is split; the SFT term of orpo / cpo is a mean over the window's chosen tokens,
whose count `prepare` sums over ranks before the step. Metrics (means over the window):

    rewards/chosen, rewards/rejected   implicit rewards (beta x log-ratio; beta x log-prob
                                       or its per-token mean for the reference-free losses)
    rewards/margins, rewards/accuracies  chosen minus rejected; share with chosen > rejected
    logps/chosen, logps/rejected       summed completion log-probs under the policy
    pairwise_accuracy                  share of pairs with logps/chosen > logps/rejected
    nll_loss                           orpo / cpo: mean NLL per chosen token
    kl                                 kto: the KL estimate z0
"""

from __future__ import annotations

from typing import Any

import torch

from tunesmith.config.schema import PreferenceConfig
from tunesmith.evaluation.pairwise import forward_logps
from tunesmith.training.loss import Terms
from tunesmith.training.preference import losses as L
from tunesmith.training.preference.reference import Reference

PAIR_KEYS = (
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "logps/chosen", "logps/rejected", "pairwise_accuracy",
)  # fmt: skip


def beta_of(cfg: PreferenceConfig) -> float:
    return cfg.beta if cfg.beta > 0 else L.DEFAULT_BETA[cfg.loss]


class PreferenceObjective:
    """preference.loss on a micro-batch (see the module docstring)."""

    def __init__(self, cfg: PreferenceConfig, reference: Reference, ranks: Any = None) -> None:
        self.cfg, self.reference, self.ranks = cfg, reference, ranks
        self.beta = beta_of(cfg)
        self.nll_coef = L.nll_weight(cfg.loss, cfg.cpo_alpha)
        self.split = "train"
        self._tokens_per_item = 0.0  # window items / window chosen tokens (nll term)

    def weight(self, batch: dict[str, torch.Tensor]) -> int:
        return int(batch["index"].numel())

    def prepare(self, local: list[dict[str, torch.Tensor]]) -> None:
        """Before a step (every rank): the window's item and chosen-token counts, for the
        orpo / cpo NLL term."""
        if not self.nll_coef:
            return
        items = float(sum(self.weight(b) for b in local))
        tokens = float(sum(_chosen_tokens(b) for b in local))
        if self.ranks is not None:
            items, tokens = self.ranks.sum([items, tokens])
        self._tokens_per_item = items / max(tokens, 1.0)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Terms:
        sums, counts = forward_logps(model, batch)
        ref = self.reference.logps(model, batch, self.split)
        if self.cfg.loss == "kto":
            return self._kto(sums, ref, batch)
        lp = _pairs(sums, counts, ref)
        out = L.pair_loss(self.cfg.loss, lp, beta=self.beta,
                          label_smoothing=self.cfg.label_smoothing, gamma=self.cfg.gamma)  # fmt: skip
        loss = out.per_pair.sum()
        logs = _pair_logs(out, lp)
        if self.nll_coef and out.nll_sum is not None:
            loss = loss + self.nll_coef * out.nll_sum * self._tokens_per_item
            logs["nll_loss"] = out.nll_sum.detach() * self._tokens_per_item
        return Terms(loss, loss, logs)

    def _kto(self, sums: torch.Tensor, ref: torch.Tensor, batch: dict[str, torch.Tensor]) -> Terms:
        seq, kl_seq = sums.view(-1, 2).unbind(1)
        ref_seq, ref_kl = ref.view(-1, 2).unbind(1)
        kl = L.kto_kl(kl_seq.detach(), ref_kl)
        if self.ranks is not None and self.ranks.world > 1:  # z0 is a mean over ranks
            kl = torch.tensor(self.ranks.sum([float(kl)])[0] / self.ranks.world, device=kl.device)
        desirable = batch["desirable"].to(sums.device)
        losses, rewards = L.kto(seq, ref_seq, desirable, kl, self.beta,
                                self.cfg.desirable_weight, self.cfg.undesirable_weight)  # fmt: skip
        n = float(losses.numel())
        d = desirable.float()
        logs = {
            "kl": kl * n,
            "rewards/desirable": (rewards * d).sum(),
            "rewards/undesirable": (rewards * (1 - d)).sum(),
            "logps/completion": seq.detach().sum(),
        }
        return Terms(losses.sum(), losses.sum(), logs)


def _chosen_tokens(batch: dict[str, torch.Tensor]) -> int:
    seq = batch["seq_ids"]
    return int(((seq >= 0) & (seq % 2 == 0)).sum())


def _pairs(sums: torch.Tensor, counts: torch.Tensor, ref: torch.Tensor | None) -> L.SeqLogps:
    s, c = sums.view(-1, 2), counts.view(-1, 2)
    r = ref.view(-1, 2) if ref is not None else None
    return L.SeqLogps(
        s[:, 0], s[:, 1], c[:, 0], c[:, 1],
        r[:, 0] if r is not None else None, r[:, 1] if r is not None else None,
    )  # fmt: skip


def _pair_logs(out: L.PairLoss, lp: L.SeqLogps) -> dict[str, torch.Tensor]:
    c, r = out.chosen_rewards.detach(), out.rejected_rewards.detach()
    chosen, rejected = lp.chosen.detach(), lp.rejected.detach()
    values = (c, r, c - r, (c > r).float(), chosen, rejected, (chosen > rejected).float())
    return {key: v.sum() for key, v in zip(PAIR_KEYS, values, strict=True)}


@torch.no_grad()
def evaluate_items(
    model: torch.nn.Module,
    objective: PreferenceObjective,
    batches: list[dict[str, torch.Tensor]],
    autocast: Any,
) -> dict[str, float]:
    """Mean loss and metrics over held-out items, keyed eval_<name> (every rank runs all of
    them alike); eval_pairwise_accuracy is the share of pairs whose chosen answer has the
    higher log-prob."""
    was_training = model.training
    model.eval()
    ranks, saved = objective.ranks, objective._tokens_per_item
    objective.split, objective.ranks = "validation", None
    totals: dict[str, float] = {}
    try:
        objective.prepare(batches)
        for batch in batches:
            with autocast():
                terms = objective(model, batch)
            totals["loss"] = totals.get("loss", 0.0) + float(terms.loss)
            for key, value in terms.logs.items():
                totals[key] = totals.get(key, 0.0) + float(value)
    finally:
        objective.split, objective.ranks, objective._tokens_per_item = "train", ranks, saved
        model.train(was_training)
    n = max(sum(objective.weight(b) for b in batches), 1)
    return {f"eval_{k}": v / n for k, v in totals.items()}
