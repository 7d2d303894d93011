"""Model FLOPs of `bench train`: the fitted a*n + b*n^2 reproduces the counted FLOPs of a step
at a third length exactly (linears and head per token, attention per token pair), and MFU is
model FLOP/s over the peak of the arm's precision."""

from __future__ import annotations

import pytest
import torch

from tunesmith.bench.spec import ArmSpec
from tunesmith.bench.train_flops import _model, add_mfu, epoch_flops, flops_fit
from tunesmith.profile.flops import count_flops


@pytest.mark.parametrize("method", ["lora", "full"])
def test_fit_predicts_a_third_length(method: str) -> None:
    spec = ArmSpec(train_file="", heldout_file="", work_dir="", method=method)
    fit = flops_fit(spec)
    model = _model(spec).train()
    ids = torch.randint(3, 4096, (1, 96), generator=torch.Generator().manual_seed(1))
    counted = count_flops(lambda: model(input_ids=ids, labels=ids).loss.backward()).total
    assert epoch_flops([96], fit) == pytest.approx(counted, rel=1e-9)
    assert fit[1] > 0  # attention grows with the square of the length


def test_full_costs_more_flops_than_lora() -> None:
    def per_token(method: str) -> float:
        spec = ArmSpec(train_file="", heldout_file="", work_dir="", method=method)
        return epoch_flops([100], flops_fit(spec))

    # full computes the weight gradients of every layer that LoRA's frozen base skips
    assert per_token("full") > 1.2 * per_token("lora")


def test_mfu_is_model_flops_over_the_precision_peak() -> None:
    report = {"baseline": {"train_seconds": 4.0}, "tunesmith": {"train_seconds": 2.0}}
    add_mfu(report, 8e9, {"fp32": 4e9, "bf16": 8e9}, "fp32")
    assert report["tunesmith"]["model_flops_per_s"] == 4e9
    assert report["tunesmith"]["mfu"] == 1.0 and report["baseline"]["mfu"] == 0.5
    assert report["tunesmith"]["mfu_of_bf16_peak"] == 0.5
