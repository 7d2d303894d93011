"""Every preference loss equals TRL's on the same per-sequence log-probs (TRL: test-only).

TRL's DPO and KTO trainers compute the loss inside `_compute_loss`, after a model forward:
they are called here on a lightweight stand-in for the trainer, with a stand-in model whose
per-token log-probs sum to the given per-sequence values. ORPO and CPO/SimPO expose
`odds_ratio_loss` / `cpo_loss`, fed the per-token means or sums as TRL's own
`get_batch_logps` computes them from the same logits.
"""

from __future__ import annotations

import types
from collections import defaultdict

import pytest
import torch

from tunesmith.training.preference import losses as L

trl_dpo = pytest.importorskip("trl.trainer.dpo_trainer")
from trl.experimental.cpo.cpo_trainer import CPOTrainer  # noqa: E402
from trl.experimental.orpo.orpo_trainer import ORPOTrainer  # noqa: E402
from trl.trainer.kto_trainer import KTOTrainer  # noqa: E402

PAIRS, WIDTH = 6, 9
ATOL = 1e-6


class _Accel:
    device = torch.device("cpu")

    def gather(self, t):
        return t

    gather_for_metrics = gather


class _Model:
    """Returns fixed per-token log-probs for the input_ids tensor it is called with."""

    training = True

    def __init__(self, table: dict[int, torch.Tensor]) -> None:
        self.table = table

    def __call__(self, input_ids, **kwargs):
        lp = self.table[input_ids.data_ptr()]
        z = torch.zeros_like(lp)
        return types.SimpleNamespace(
            log_probs=lp, entropy=z, mean_logits=z, is_top1=z.bool(), aux_loss=None
        )


def _per_token(counts: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random per-token log-probs [rows, WIDTH - 1] on the first `count` shifted positions,
    and the unshifted completion mask [rows, WIDTH] (prompt token at position 0)."""
    rows = counts.numel()
    lp = -torch.rand(rows, WIDTH - 1, generator=gen, dtype=torch.float64) * 3
    mask = torch.zeros(rows, WIDTH, dtype=torch.long)
    for i, n in enumerate(counts.tolist()):
        lp[i, n:] = 0
        mask[i, 1 : 1 + n] = 1
    return lp, mask


def _pairs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(1, WIDTH - 1, (2 * PAIRS,), generator=gen)
    lp, mask = _per_token(counts, gen)
    sums = lp.sum(1)
    ref = sums + torch.randn(2 * PAIRS, generator=gen, dtype=torch.float64)
    ours = L.SeqLogps(
        sums[:PAIRS], sums[PAIRS:], counts[:PAIRS].double(), counts[PAIRS:].double(),
        ref[:PAIRS], ref[PAIRS:],
    )  # fmt: skip
    return ours, lp, mask, ref


def _trl_dpo(loss_type: str, beta: float, label_smoothing: float, lp, mask, ref) -> torch.Tensor:
    input_ids = torch.zeros_like(mask)
    model = _Model({input_ids.data_ptr(): lp})
    fake = types.SimpleNamespace(
        model=model, accelerator=_Accel(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=[loss_type],
        loss_weights=[1.0], beta=beta, label_smoothing=label_smoothing, use_weighting=False,
        _metrics=defaultdict(lambda: defaultdict(list)), _total_train_tokens=0, _tp_size=1,
    )  # fmt: skip
    inputs = {
        "input_ids": input_ids, "attention_mask": torch.ones_like(mask), "completion_mask": mask,
        "ref_chosen_logps": ref[:PAIRS], "ref_rejected_logps": ref[PAIRS:],
    }  # fmt: skip
    return trl_dpo.DPOTrainer._compute_loss(fake, model, inputs, False)


@pytest.mark.parametrize(
    ("ours", "trl_type", "beta", "smoothing"),
    [
        ("dpo", "sigmoid", 0.1, 0.0),
        ("dpo", "sigmoid", 0.5, 0.0),
        ("robust", "robust", 0.1, 0.2),
        ("ipo", "ipo", 0.1, 0.0),
        ("ipo", "ipo", 0.3, 0.0),
        ("hinge", "hinge", 0.1, 0.0),
        ("hinge", "hinge", 2.0, 0.0),
    ],
)
def test_reference_losses_equal_trl_dpo_trainer(ours, trl_type, beta, smoothing):
    lp_ours, lp, mask, ref = _pairs()
    out = L.pair_loss(ours, lp_ours, beta=beta, label_smoothing=smoothing)
    expected = _trl_dpo(trl_type, beta, smoothing, lp, mask, ref)
    assert float(L.batch_loss(out, lp_ours)) == pytest.approx(float(expected), abs=ATOL)
    c = lp_ours.chosen - lp_ours.ref_chosen
    assert torch.allclose(out.chosen_rewards, beta * c, atol=ATOL)


@pytest.mark.parametrize("smoothing", [0.1, 0.3])
def test_conservative_dpo_equals_trl_smoothed_sigmoid(smoothing):
    """cDPO: TRL 1.16's DPO `sigmoid` has no label smoothing; its CPO `sigmoid` applies the
    same smoothed form to the margin it is given, here the DPO log-ratios."""
    lp_ours, *_ = _pairs(1)
    out = L.dpo(lp_ours, 0.1, smoothing)
    fake = types.SimpleNamespace(
        alpha=0.0, accelerator=_Accel(), beta=0.1, label_smoothing=smoothing, loss_type="sigmoid"
    )
    expected, _, _ = CPOTrainer.cpo_loss(
        fake, lp_ours.chosen - lp_ours.ref_chosen, lp_ours.rejected - lp_ours.ref_rejected
    )
    assert torch.allclose(out.per_pair, expected, atol=ATOL)


def _logits_and_labels(seed: int):
    """Random logits [2 x PAIRS, WIDTH, V] and labels with -100 on a prompt of 2-3 tokens."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2 * PAIRS, WIDTH, 11, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 11, (2 * PAIRS, WIDTH), generator=gen)
    for i in range(2 * PAIRS):
        labels[i, : 2 + i % 2] = -100
        labels[i, WIDTH - (i % 3) :] = -100  # padding
    return logits, labels


def _ours_from_logits(logits, labels) -> L.SeqLogps:
    from tunesmith.evaluation.pairwise import sequence_logps

    targets = torch.cat([labels[:, 1:], torch.full((labels.shape[0], 1), -100)], 1)
    seq = torch.arange(labels.shape[0])[:, None].expand_as(targets).clone()
    sums, counts = sequence_logps(logits, {"targets": targets, "seq_ids": seq,
                                           "index": torch.arange(PAIRS)})  # fmt: skip
    return L.SeqLogps(sums[:PAIRS], sums[PAIRS:], counts[:PAIRS], counts[PAIRS:])


@pytest.mark.parametrize("beta", [0.1, 0.25])
def test_orpo_equals_trl(beta):
    logits, labels = _logits_and_labels(2)
    ours = _ours_from_logits(logits, labels)
    avg = ORPOTrainer.get_batch_logps(logits, labels, average_log_prob=True)
    fake = types.SimpleNamespace(beta=beta, accelerator=_Accel())
    losses, *_ = ORPOTrainer.odds_ratio_loss(fake, avg[:PAIRS], avg[PAIRS:])
    shift_logits = logits[:PAIRS, :-1].reshape(-1, logits.shape[-1])
    nll = torch.nn.CrossEntropyLoss()(shift_logits, labels[:PAIRS, 1:].reshape(-1))
    expected = nll - losses.mean()  # ORPOTrainer.get_batch_loss_metrics
    out = L.orpo(ours, beta)
    assert float(L.batch_loss(out, ours, L.nll_weight("orpo"))) == pytest.approx(
        float(expected), abs=ATOL
    )


@pytest.mark.parametrize(
    ("name", "trl_type", "beta", "smoothing", "alpha"),
    [
        ("cpo", "sigmoid", 0.1, 0.0, 1.0),
        ("cpo", "sigmoid", 0.1, 0.2, 0.5),
        ("simpo", "simpo", 2.0, 0.0, 0.0),
        ("simpo", "simpo", 2.5, 0.1, 0.0),
    ],
)
def test_cpo_and_simpo_equal_trl(name, trl_type, beta, smoothing, alpha):
    logits, labels = _logits_and_labels(3)
    ours = _ours_from_logits(logits, labels)
    lp = ORPOTrainer.get_batch_logps(logits, labels, average_log_prob=name == "simpo")
    gamma = 1.4
    fake = types.SimpleNamespace(
        alpha=0.0, accelerator=_Accel(), beta=beta, label_smoothing=smoothing,
        loss_type=trl_type, simpo_gamma=gamma,
    )  # fmt: skip
    losses, chosen_rewards, _ = CPOTrainer.cpo_loss(fake, lp[:PAIRS], lp[PAIRS:])
    shift_logits = logits[:PAIRS, :-1].reshape(-1, logits.shape[-1])
    nll = torch.nn.CrossEntropyLoss()(shift_logits, labels[:PAIRS, 1:].reshape(-1))
    expected = losses.mean() + alpha * nll  # CPOTrainer.get_batch_loss_metrics
    out = L.pair_loss(name, ours, beta=beta, label_smoothing=smoothing, gamma=gamma)
    got = L.batch_loss(out, ours, alpha)
    assert float(got) == pytest.approx(float(expected), abs=ATOL)
    assert torch.allclose(out.chosen_rewards.double(), chosen_rewards, atol=ATOL)


@pytest.mark.parametrize(("dw", "uw", "beta"), [(1.0, 1.0, 0.1), (1.33, 0.7, 0.3)])
def test_kto_equals_trl(dw, uw, beta):
    gen = torch.Generator().manual_seed(4)
    n = 2 * PAIRS
    counts = torch.randint(1, WIDTH - 1, (n,), generator=gen)
    lp, mask = _per_token(counts, gen)
    kl_lp, kl_mask = _per_token(torch.randint(1, WIDTH - 1, (n,), generator=gen), gen)
    labels = torch.tensor([i % 3 != 0 for i in range(n)])
    ref = lp.sum(1) + torch.randn(n, generator=gen, dtype=torch.float64)
    ref_kl = kl_lp.sum(1) - torch.rand(n, generator=gen, dtype=torch.float64)
    ids, kl_ids = torch.zeros_like(mask), torch.ones_like(kl_mask)
    model = _Model({ids.data_ptr(): lp, kl_ids.data_ptr(): kl_lp})
    fake = types.SimpleNamespace(
        model=model, accelerator=_Accel(), aux_loss_enabled=False, calculate_KL=True,
        precompute_ref_logps=True, loss_type="kto", beta=beta, desirable_weight=dw,
        undesirable_weight=uw, _metrics=defaultdict(lambda: defaultdict(list)),
        _total_train_tokens=0, _tp_size=1,
    )  # fmt: skip
    fake._compute_kl_logps = types.MethodType(KTOTrainer._compute_kl_logps, fake)
    batch = {
        "input_ids": ids, "attention_mask": torch.ones_like(mask), "completion_mask": mask,
        "KL_input_ids": kl_ids, "KL_attention_mask": torch.ones_like(kl_mask),
        "KL_completion_mask": kl_mask, "label": labels, "ref_logps": ref, "ref_KL_logps": ref_kl,
    }  # fmt: skip
    expected = KTOTrainer._compute_loss(fake, model, batch, False)
    kl = L.kto_kl(kl_lp.sum(1), ref_kl)
    assert float(kl) > 0  # the clamp does not hide the term
    losses, _ = L.kto(lp.sum(1), ref, labels, kl, beta, dw, uw)
    assert float(losses.mean()) == pytest.approx(float(expected), abs=ATOL)
