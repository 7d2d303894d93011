"""Gradient accumulation is token-weighted: any split of a window gives one big batch's gradient."""

from __future__ import annotations

import torch
from accelerate import Accelerator

from helpers import encoded_samples
from tunesmith.adapters.peft_setup import attach_method
from tunesmith.config.schema import LoraConfig, MethodConfig, ModelConfig
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.training.loss import accumulate_gradients, count_targets, forward_loss_sum


def grads_after(model, window) -> tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss = accumulate_gradients(Accelerator(cpu=True), model, window).loss
    flat = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss, flat


def lora_model():
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3"), seed=0)
    model = attach_method(model, MethodConfig(name="lora", lora=LoraConfig(r=4, dropout=0.0)))
    # non-zero B so LoRA A gets gradient too
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    return model, tok


def test_accumulated_gradient_equals_one_batch() -> None:
    model, tok = lora_model()
    samples = encoded_samples(tok, 8)
    one_loss, one_grad = grads_after(model, [collate_packed(samples)])
    # Uneven split: 1 + 3 + 4 samples, packed rows and a padded batch mixed.
    window = [
        collate_packed(samples[:1]),
        collate_padded(samples[1:4], tok.pad_token_id),
        collate_packed(samples[4:]),
    ]
    acc_loss, acc_grad = grads_after(model, window)
    assert abs(acc_loss - one_loss) < 1e-5
    assert torch.allclose(acc_grad, one_grad, rtol=1e-4, atol=1e-7)
    assert one_grad.abs().max() > 0


def test_mean_of_means_would_differ() -> None:
    """The check above can fail: averaging per-micro-batch means weights tokens unequally."""
    model, tok = lora_model()
    samples = encoded_samples(tok, 8)
    _, one_grad = grads_after(model, [collate_packed(samples)])
    model.zero_grad(set_to_none=True)
    parts = [collate_packed(samples[:1]), collate_packed(samples[1:])]
    for batch in parts:
        (forward_loss_sum(model, batch) / count_targets(batch) / len(parts)).backward()
    naive = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    assert not torch.allclose(naive, one_grad, rtol=1e-3, atol=1e-6)


def test_real_tokens_exclude_padding() -> None:
    model, tok = lora_model()
    samples = encoded_samples(tok, 3)
    tokens = accumulate_gradients(
        Accelerator(cpu=True), model, [collate_padded(samples, tok.pad_token_id)]
    ).tokens
    assert tokens == sum(len(s.input_ids) for s in samples)
