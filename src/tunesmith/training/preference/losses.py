"""Preference losses in plain torch, on per-sequence log-probs (sums over completion tokens).

Every function takes what one forward pass gives per sequence (the summed log-probability of
its completion and its completion-token count) and, for the losses that have one, the same of
the reference model. Each returns per-pair (per-sequence for KTO) losses and implicit rewards;
`batch_loss` reduces them the way the reference implementation (TRL) does for one batch, and a
test feeds the same log-probs to TRL's own loss code and asserts equality to 1e-6.

    loss      paper                                                     needs a reference
    dpo       Rafailov et al. 2023, arXiv:2305.18290 (label_smoothing:  yes
              conservative DPO, Mitchell 2023, "A note on DPO with noisy preferences")
    robust    Chowdhury et al. 2024, arXiv:2403.00409 (rDPO)            yes
    ipo       Azar et al. 2023, arXiv:2310.12036 (Eq. 17)               yes
    hinge     Zhao et al. 2023, arXiv:2305.10425 (SLiC-HF)              yes
    kto       Ethayarajh et al. 2024, arXiv:2402.01306 (Eq. 7)          yes (unpaired data)
    orpo      Hong et al. 2024, arXiv:2403.07691 (Eq. 4, 7)             no
    simpo     Meng et al. 2024, arXiv:2405.14734 (Eq. 6)                no
    cpo       Xu et al. 2024, arXiv:2401.08417 (Eq. 3 + NLL)            no
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAIRED = ("dpo", "robust", "ipo", "hinge", "orpo", "simpo", "cpo")
LOSSES = (*PAIRED, "kto")
REFERENCE_FREE = ("orpo", "simpo", "cpo")

# Defaults from the papers (and their reference code): beta, and the loss's own knobs.
DEFAULT_BETA = {
    "dpo": 0.1,
    "robust": 0.1,
    "ipo": 0.1,
    "hinge": 0.1,
    "kto": 0.1,
    "orpo": 0.1,  # lambda of Eq. 6
    "simpo": 2.0,
    "cpo": 0.1,
}


@dataclass
class SeqLogps:
    """Per-pair completion log-prob sums and completion-token counts (shape [pairs])."""

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_tokens: torch.Tensor
    rejected_tokens: torch.Tensor
    ref_chosen: torch.Tensor | None = None
    ref_rejected: torch.Tensor | None = None


@dataclass
class PairLoss:
    """Per-pair loss terms and implicit rewards; `nll_sum` is the summed negative
    log-likelihood of the chosen tokens for losses that add an SFT term (orpo, cpo)."""

    per_pair: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor
    nll_sum: torch.Tensor | None = None


def _ratios(lp: SeqLogps) -> tuple[torch.Tensor, torch.Tensor]:
    if lp.ref_chosen is None or lp.ref_rejected is None:
        raise ValueError("this loss needs reference log-probs (ref_chosen, ref_rejected)")
    return lp.chosen - lp.ref_chosen, lp.rejected - lp.ref_rejected


def _smoothed_sigmoid(logits: torch.Tensor, beta: float, smoothing: float) -> torch.Tensor:
    """-(1 - e) log sigma(beta x) - e log sigma(-beta x): the conservative (cDPO) form."""
    return -F.logsigmoid(beta * logits) * (1 - smoothing) - F.logsigmoid(-beta * logits) * smoothing


def dpo(lp: SeqLogps, beta: float = 0.1, label_smoothing: float = 0.0) -> PairLoss:
    """DPO (Rafailov et al. 2023, Eq. 7): -log sigma(beta (log-ratio chosen - log-ratio
    rejected)). With `label_smoothing` e > 0 the labels are trusted with probability 1 - e
    (conservative DPO)."""
    c, r = _ratios(lp)
    return PairLoss(_smoothed_sigmoid(c - r, beta, label_smoothing), beta * c, beta * r)


def robust(lp: SeqLogps, beta: float = 0.1, label_smoothing: float = 0.1) -> PairLoss:
    """Robust DPO (Chowdhury et al. 2024, Eq. 9): an unbiased loss under preference labels
    flipped with probability e = `label_smoothing` (< 0.5)."""
    c, r = _ratios(lp)
    d, e = beta * (c - r), label_smoothing
    loss = (-(1 - e) * F.logsigmoid(d) + e * F.logsigmoid(-d)) / (1 - 2 * e)
    return PairLoss(loss, beta * c, beta * r)


def ipo(lp: SeqLogps, beta: float = 0.1) -> PairLoss:
    """IPO (Azar et al. 2023, Eq. 17): (h - 1 / (2 tau))^2 with tau = beta, where h is the
    difference of the per-token mean log-ratios (length-normalised, as the authors ran it)."""
    c, r = _ratios(lp)
    h = c / lp.chosen_tokens.clamp(min=1) - r / lp.rejected_tokens.clamp(min=1)
    return PairLoss((h - 1 / (2 * beta)) ** 2, beta * c, beta * r)


def hinge(lp: SeqLogps, beta: float = 0.1) -> PairLoss:
    """SLiC-HF hinge loss (Zhao et al. 2023) on the DPO log-ratio margin:
    max(0, 1 - beta (log-ratio chosen - log-ratio rejected))."""
    c, r = _ratios(lp)
    return PairLoss(torch.relu(1 - beta * (c - r)), beta * c, beta * r)


def _log1mexp(x: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(x)) for x < 0, stable on both sides of -ln 2 (Maechler 2012)."""
    return torch.where(
        x < -0.6931471805599453, torch.log1p(-torch.exp(x)), torch.log(-torch.expm1(x))
    )


def orpo(lp: SeqLogps, beta: float = 0.1) -> PairLoss:
    """ORPO (Hong et al. 2024, Eq. 6-7): NLL of the chosen answer minus lambda (= beta) x
    log sigma(log odds ratio), the odds taken on per-token mean log-probs. No reference."""
    c = lp.chosen.float() / lp.chosen_tokens.clamp(min=1)
    r = lp.rejected.float() / lp.rejected_tokens.clamp(min=1)
    log_odds = (c - r) - (_log1mexp(c) - _log1mexp(r))
    return PairLoss(-beta * F.logsigmoid(log_odds), beta * c, beta * r, nll_sum=-lp.chosen.sum())


def simpo(
    lp: SeqLogps, beta: float = 2.0, gamma: float = 1.0, label_smoothing: float = 0.0
) -> PairLoss:
    """SimPO (Meng et al. 2024, Eq. 6): -log sigma(beta (mean log-prob chosen - mean log-prob
    rejected) - gamma): length-normalised rewards and a target margin gamma. No reference."""
    c = lp.chosen / lp.chosen_tokens.clamp(min=1)
    r = lp.rejected / lp.rejected_tokens.clamp(min=1)
    loss = _smoothed_sigmoid(c - r - gamma / beta, beta, label_smoothing)
    return PairLoss(loss, beta * c, beta * r)


def cpo(lp: SeqLogps, beta: float = 0.1, label_smoothing: float = 0.0) -> PairLoss:
    """CPO (Xu et al. 2024, Eq. 3): -log sigma(beta (log p(chosen) - log p(rejected))) plus
    an NLL term on the chosen answer (weighted by `alpha` in `batch_loss`). No reference."""
    loss = _smoothed_sigmoid(lp.chosen - lp.rejected, beta, label_smoothing)
    return PairLoss(loss, beta * lp.chosen, beta * lp.rejected, nll_sum=-lp.chosen.sum())


def kto(
    logps: torch.Tensor,
    ref_logps: torch.Tensor,
    desirable: torch.Tensor,
    kl: torch.Tensor,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """KTO (Ethayarajh et al. 2024, Eq. 7) on unpaired sequences: desirable ones lose
    1 - sigma(beta (r - z0)), undesirable ones 1 - sigma(beta (z0 - r)), with r the
    log-ratio and z0 the batch's KL estimate (from mismatched prompt/completion pairs, clamped
    at 0, no gradient). Returns per-sequence weighted losses and rewards beta r."""
    ratio = logps - ref_logps
    good = 1 - torch.sigmoid(beta * (ratio - kl))
    bad = 1 - torch.sigmoid(beta * (kl - ratio))
    losses = torch.where(desirable, desirable_weight * good, undesirable_weight * bad)
    return losses, beta * ratio.detach()


def kto_kl(kl_logps: torch.Tensor, ref_kl_logps: torch.Tensor) -> torch.Tensor:
    """KTO's z0: mean log-ratio of mismatched pairs, clamped at 0, without gradient."""
    return (kl_logps - ref_kl_logps).mean().detach().clamp(min=0)


def pair_loss(name: str, lp: SeqLogps, *, beta: float, label_smoothing: float = 0.0,
              gamma: float = 1.0) -> PairLoss:  # fmt: skip
    """The paired loss `name` with its settings (see the functions above)."""
    if name == "dpo":
        return dpo(lp, beta, label_smoothing)
    if name == "robust":
        return robust(lp, beta, label_smoothing)
    if name == "ipo":
        return ipo(lp, beta)
    if name == "hinge":
        return hinge(lp, beta)
    if name == "orpo":
        return orpo(lp, beta)
    if name == "simpo":
        return simpo(lp, beta, gamma, label_smoothing)
    if name == "cpo":
        return cpo(lp, beta, label_smoothing)
    raise ValueError(f"unknown paired loss '{name}' (expected one of {', '.join(PAIRED)})")


def nll_weight(name: str, cpo_alpha: float = 1.0) -> float:
    """Weight of the mean chosen-token NLL in the loss: 1 for ORPO (the SFT term of Eq. 6),
    `cpo_alpha` for CPO, 0 otherwise."""
    return {"orpo": 1.0, "cpo": cpo_alpha}.get(name, 0.0)


def batch_loss(out: PairLoss, lp: SeqLogps, nll_coef: float = 0.0) -> torch.Tensor:
    """One batch's loss: the mean pair term, plus `nll_coef` x the mean NLL per chosen token."""
    loss = out.per_pair.mean()
    if nll_coef and out.nll_sum is not None:
        loss = loss + nll_coef * out.nll_sum / lp.chosen_tokens.sum().clamp(min=1)
    return loss
