"""LoRA+ learning-rate groups; the MoE router balance loss."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunesmith.adapters.peft_setup import attach_method
from tunesmith.config.schema import LoraConfig, MethodConfig, TrainConfig
from tunesmith.models.moe import RouterAuxLoss, balance_loss
from tunesmith.models.registry import PRESETS
from tunesmith.training.optim import build_optimizer, build_scheduler


def test_lora_plus_puts_b_matrices_at_ratio_times_lr() -> None:
    model = AutoModelForCausalLM.from_config(PRESETS["tiny-qwen2"].config())
    model = attach_method(model, MethodConfig(lora=LoraConfig(target_modules=["q_proj"])))
    opt = build_optimizer(model, TrainConfig(lr=1e-3), lora_plus_ratio=16)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [(g["lr"], sorted(names[id(p)] for p in g["params"])) for g in opt.param_groups]
    prefix = "base_model.model.model.layers"
    assert groups == [
        (1e-3, [f"{prefix}.{i}.self_attn.q_proj.lora_A.default.weight" for i in (0, 1)]),
        (
            pytest.approx(1.6e-2),
            [f"{prefix}.{i}.self_attn.q_proj.lora_B.default.weight" for i in (0, 1)],
        ),
    ]
    sched = build_scheduler(opt, TrainConfig(lr=1e-3, warmup_steps=2), total_steps=10)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([5e-4, 8e-3])  # warmup 1/2
    sched.step()


def test_balance_loss_is_one_when_balanced_and_larger_when_not() -> None:
    logits = torch.zeros(8, 4)  # equal affinities
    balanced = torch.tensor([[0, 1], [2, 3]] * 4)
    assert float(balance_loss(logits, balanced, sigmoid=True)) == pytest.approx(1.0)
    skewed_logits = torch.tensor([[4.0, 4.0, -4.0, -4.0]] * 8)
    skewed = torch.tensor([[0, 1]] * 8)
    assert float(balance_loss(skewed_logits, skewed, sigmoid=False)) == pytest.approx(
        2 * (2 * torch.softmax(skewed_logits[0], -1)[0]).item()
    )


def test_router_hooks_collect_every_moe_layer() -> None:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(PRESETS["tiny-deepseek-v3"].config())
    aux = RouterAuxLoss(model)
    assert len(aux.handles) == 3  # layers 1-3 are MoE, layer 0 is dense
    model(input_ids=torch.tensor([[0, 5, 17, 300, 42, 7]]))
    assert len(aux.calls) == 3
    loss = aux.loss()
    assert loss is not None and loss.requires_grad and float(loss) >= 1.0 - 1e-6
    assert aux.calls == []
    aux.remove()
    assert not RouterAuxLoss(AutoModelForCausalLM.from_config(PRESETS["tiny-qwen2"].config()))
