"""fp32 masters for bf16 weights: AdamW's exact trajectory on the masters, updates below a
bf16 ulp kept, and a state dict that restores the masters exactly (checkpoint round trip)."""

from __future__ import annotations

import pytest
import torch

from tunesmith.errors import ConfigError
from tunesmith.training.checkpoint import _load_replicated, _optimizer_tensors
from tunesmith.training.precision import Fp32MasterAdamW, check_precision


def _grads(step: int, shape) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(step))


def _pair():
    torch.manual_seed(0)
    w = torch.randn(6, 5)
    bf16 = torch.nn.Parameter(w.bfloat16())
    fp32 = torch.nn.Parameter(w.bfloat16().float())  # the same starting values
    bias = torch.nn.Parameter(torch.zeros(6))  # an fp32 trainable weight is stepped in place
    return bf16, fp32, bias


def test_masters_follow_fp32_adamw_exactly() -> None:
    bf16, fp32, bias = _pair()
    bias_ref = torch.nn.Parameter(bias.detach().clone())
    ours = Fp32MasterAdamW([{"params": [bf16, bias]}], lr=1e-2, weight_decay=0.1)
    ref = torch.optim.AdamW([fp32, bias_ref], lr=1e-2, weight_decay=0.1, foreach=False)
    for step in range(5):
        g = _grads(step, fp32.shape).bfloat16()  # what a bf16 backward hands over
        bf16.grad, fp32.grad = g, g.float()
        bias.grad = bias_ref.grad = _grads(100 + step, bias.shape)
        ours.step()
        ref.step()
        ours.zero_grad()
        ref.zero_grad()
    master = ours.pairs[0][1]
    assert torch.equal(master, fp32.detach())
    assert torch.equal(bias, bias_ref)
    assert bf16.dtype == torch.bfloat16 and torch.equal(bf16, fp32.detach().bfloat16())
    assert bf16.grad is None and master.grad is None


def test_updates_below_a_bf16_ulp_accumulate() -> None:
    p = torch.nn.Parameter(torch.ones(4, dtype=torch.bfloat16))
    plain = torch.nn.Parameter(torch.ones(4, dtype=torch.bfloat16))
    ours = Fp32MasterAdamW([{"params": [p]}], lr=1e-3, weight_decay=0.0)
    naive = torch.optim.AdamW([plain], lr=1e-3, weight_decay=0.0)
    for _ in range(20):  # each step moves by lr = 1e-3, under bf16's 2^-7 ulp at 1.0
        p.grad = torch.ones(4, dtype=torch.bfloat16)
        plain.grad = torch.ones(4, dtype=torch.bfloat16)
        ours.step()
        naive.step()
    assert torch.equal(plain.detach(), torch.ones(4, dtype=torch.bfloat16))  # lost in bf16
    assert float(ours.pairs[0][1][0].detach()) == pytest.approx(1 - 20e-3, abs=1e-5)
    assert float(p[0].detach()) == pytest.approx(0.98, abs=4e-3)  # the rounded master


def test_checkpoint_round_trip_resumes_exactly(tmp_path) -> None:
    def fresh():
        bf16, _, bias = _pair()
        opt = Fp32MasterAdamW([{"params": [bf16, bias]}], lr=1e-2)
        return bf16, bias, opt

    def run(bf16, bias, opt, steps):
        for step in steps:
            bf16.grad = _grads(step, bf16.shape).bfloat16()
            bias.grad = _grads(50 + step, bias.shape)
            opt.step()
            opt.zero_grad()

    a = fresh()
    run(*a, range(6))
    b = fresh()
    run(*b, range(3))
    tensors, meta = _optimizer_tensors(b[2])
    assert tensors["0.master"].dtype == torch.float32  # the masters are saved, in fp32
    # write + read the way checkpoints do, into a fresh model and optimizer
    from safetensors.torch import save_file

    c = fresh()
    module = torch.nn.Module()
    module.w, module.b = c[0], c[1]
    save_file({"w": b[0].detach(), "b": b[1].detach()}, tmp_path / "trainable.safetensors")
    save_file(tensors, tmp_path / "optimizer.safetensors")
    sched = torch.optim.lr_scheduler.LambdaLR(c[2], lambda s: 1.0)
    meta["scheduler"] = sched.state_dict()
    import json

    (tmp_path / "optimizer.json").write_text(json.dumps(meta))
    _load_replicated(tmp_path, module, c[2], sched)
    run(*c, range(3, 6))
    assert torch.equal(c[2].pairs[0][1], a[2].pairs[0][1])
    assert torch.equal(c[0], a[0]) and torch.equal(c[1], a[1])


def test_pure_bf16_settings() -> None:
    check_precision("bf16", True, "ddp")
    with pytest.raises(ConfigError, match="train.pure_bf16: needs train.precision bf16"):
        check_precision("fp32", True, "none")
    with pytest.raises(ConfigError, match="not with distributed.strategy fsdp"):
        check_precision("bf16", True, "fsdp")
