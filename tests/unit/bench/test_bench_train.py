"""`run_bench` end to end on a tiny budget: report shape, equal token budgets, finite losses.

Timings are never asserted: this machine is shared and the numbers are the benchmark's job.
"""

from __future__ import annotations

import json
import math

import pytest

from tunesmith.bench.spec import ArmSpec
from tunesmith.bench.train import arm_order, match_packing, plan_spec, run_bench
from tunesmith.tokenize.packing import pack_bins

ARM_KEYS = {
    "real_tokens",
    "padded_tokens",
    "real_tokens_per_s",
    "peak_rss_mb",
    "final_train_loss",
    "heldout_loss",
    "train_seconds",
    "wall_seconds",
    "steps",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    out = run_bench(str(path), budget_tokens=3000, heldout_tokens=600, threads=1, quiet=True)
    assert json.loads(path.read_text()) == json.loads(json.dumps(out))
    return out


def test_report_shape(report: dict) -> None:
    assert {"baseline", "tunesmith", "speedup", "loss_ratio", "settings"} <= report.keys()
    for arm in ("baseline", "tunesmith"):
        assert report[arm].keys() >= ARM_KEYS
        assert report[arm]["peak_rss_mb"] > 0
    assert report["speedup"] > 0
    assert report["settings"]["torch_threads"] == 1
    assert report["baseline"]["torch_threads"] == report["tunesmith"]["torch_threads"] == 1
    peak = report["model_flops"]["peak_flops_per_s"]
    assert peak["fp32"] > 0 and peak["bf16"] > 0
    for arm in ("baseline", "tunesmith"):
        r = report[arm]
        assert r["mfu"] == pytest.approx(r["model_flops_per_s"] / peak["fp32"])
        assert r["model_flops_per_s"] * r["train_seconds"] == pytest.approx(
            report["model_flops"]["epoch_flops"]
        )


def test_same_real_token_budget(report: dict) -> None:
    base, ours = report["baseline"], report["tunesmith"]
    assert base["real_tokens"] >= report["settings"]["budget_tokens"]
    assert abs(ours["real_tokens"] / base["real_tokens"] - 1) <= 0.05
    assert ours["padded_tokens"] == ours["real_tokens"]  # packed: no padding
    assert base["padded_tokens"] >= base["real_tokens"]
    assert base["steps"] == ours["steps"]


def test_losses_finite(report: dict) -> None:
    for arm in ("baseline", "tunesmith"):
        for key in ("final_train_loss", "heldout_loss"):
            assert math.isfinite(report[arm][key]) and report[arm][key] > 0
    assert math.isfinite(report["loss_ratio"])


def test_plan_matches_steps() -> None:
    sizes = [16, 900, 40, 300, 120, 64, 1024, 33, 77, 250] * 5
    spec = plan_spec(sizes, ArmSpec("t", "h", "w", batch_size=8), row_tokens=512)
    steps = math.ceil(len(sizes) / 8)
    assert math.ceil(len(pack_bins(sizes, spec.batch_tokens)) / spec.grad_accum) <= steps
    smaller = spec.batch_tokens - 16
    assert math.ceil(len(pack_bins(sizes, smaller)) / spec.grad_accum) > steps
    assert match_packing(sizes, steps, spec.grad_accum) == spec.batch_tokens


def test_arm_order_alternates() -> None:
    assert arm_order(1) == ["baseline", "tunesmith"]
    assert arm_order(2) == ["baseline", "tunesmith", "tunesmith", "baseline"]
