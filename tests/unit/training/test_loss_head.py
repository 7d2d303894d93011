"""`train.loss_impl`: the head computing its own chunked loss inside the model's forward gives
the plain path's loss, gradients and distillation term; choices and their errors."""

from __future__ import annotations

import pytest
import torch

from helpers import encoded_samples
from tunesmith.adapters.peft_setup import attach_method
from tunesmith.config.schema import LoraConfig, MethodConfig, ModelConfig
from tunesmith.errors import ConfigError
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.training.distill import Distiller
from tunesmith.training.loss_head import loss_sums, output_linear, resolve_loss_impl

CPU = torch.device("cpu")


def _close(got: torch.Tensor, ref: torch.Tensor, name: str) -> None:
    """Equal to fp32 rounding: 1e-5 of the tensor's largest entry (gradients of summed
    losses reach tens; the order of the head's sums differs between the two paths)."""
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()), msg=name)


def _grads(model, batch, impl, distill=None, chunk=0):
    model.zero_grad(set_to_none=True)
    ce, kd = loss_sums(model, batch, impl, chunk=chunk, distill=distill)
    (ce + (kd if kd is not None else 0.0)).backward()
    named = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return float(ce.detach()), None if kd is None else float(kd.detach()), named


@pytest.mark.parametrize("preset", ["tiny-qwen2", "tiny-deepseek-v3"])
def test_full_model_chunked_equals_plain(preset: str) -> None:
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=preset), seed=0)
    batch = collate_packed(encoded_samples(tok, 4))
    ce_p, _, g_p = _grads(model, batch, "plain")
    ce_c, _, g_c = _grads(model, batch, "chunked", chunk=16)
    assert ce_c == pytest.approx(ce_p, rel=1e-5)
    assert set(g_c) == set(g_p)  # the head's weight among them (tied to the embedding or not)
    assert output_linear(model).weight.grad is not None
    for name, g in g_p.items():
        _close(g_c[name], g, name)
    # the swapped head is gone afterwards: the plain forward returns full logits again
    ids = batch["input_ids"][:, :5]
    assert model(input_ids=ids).logits.shape[-1] == model.config.vocab_size


def test_lora_padded_batch_chunked_equals_plain() -> None:
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-deepseek-v3"), seed=0)
    model = attach_method(model, MethodConfig(name="lora", lora=LoraConfig(r=4)))
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    batch = collate_padded(encoded_samples(tok, 3), tok.pad_token_id)
    ce_p, _, g_p = _grads(model, batch, "plain")
    ce_c, _, g_c = _grads(model, batch, "chunked", chunk=8)
    assert ce_c == pytest.approx(ce_p, rel=1e-5)
    for name, g in g_p.items():
        _close(g_c[name], g, name)


def test_distill_term_chunked_equals_plain() -> None:
    student, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    teacher, _ = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"), seed=1)
    teacher.eval().requires_grad_(False)
    distill = Distiller(teacher, alpha=0.5, temperature=2.0, vocab=len(tok))
    batch = collate_packed(encoded_samples(tok, 3))
    ce_p, kd_p, g_p = _grads(student, batch, "plain", distill)
    ce_c, kd_c, g_c = _grads(student, batch, "chunked", distill, chunk=8)
    assert kd_p > 0 and kd_c == pytest.approx(kd_p, rel=1e-5)
    assert ce_c == pytest.approx(ce_p, rel=1e-5)
    for name, g in g_p.items():
        _close(g_c[name], g, name)


def test_resolve_choices_and_errors() -> None:
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path="tiny-qwen2"), seed=0)
    assert resolve_loss_impl("auto", model, CPU) == "chunked"
    assert resolve_loss_impl("plain", model, CPU) == "plain"
    with pytest.raises(ConfigError, match="liger runs Triton kernels on CUDA GPUs only"):
        resolve_loss_impl("liger", model, CPU)
    assert resolve_loss_impl("auto", model, CPU, sharded="fsdp") == "plain"
    with pytest.raises(ConfigError, match="chunked is not supported with fsdp"):
        resolve_loss_impl("chunked", model, CPU, sharded="fsdp")
    lora = MethodConfig(name="lora", lora=LoraConfig(r=4, modules_to_save=["lm_head"]))
    wrapped = attach_method(model, lora, tok)
    assert output_linear(wrapped) is None
    assert resolve_loss_impl("auto", wrapped, CPU) == "plain"
    with pytest.raises(ConfigError, match="chunked needs the model's output layer to be a plain"):
        resolve_loss_impl("chunked", wrapped, CPU)
