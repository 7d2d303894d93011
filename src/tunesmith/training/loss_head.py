"""`train.loss_impl`: how the LM head and the loss are computed.

plain    the model's forward returns full `[tokens, vocab]` logits; cross-entropy on them
chunked  the head computes the loss itself over row chunks (training/chunked_ce.py); the
         logits never exist at once; CPU and GPU
liger    Liger-Kernel's fused linear cross-entropy (Triton; CUDA with liger-kernel installed)
auto     liger where it is available, else chunked; plain when the output layer is not a
         plain linear (e.g. PEFT wraps lm_head for modules_to_save / trainable_tokens)

The head's forward is swapped for the duration of one forward pass, so the loss is computed
inside the model's own forward: DDP, FSDP2 and ZeRO-3 gather and synchronise the head's weight
exactly as they do for the plain path. The swapped head returns an empty `[.., 0]` tensor
as logits; the summed loss is read from the context object.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from tunesmith.errors import ConfigError
from tunesmith.training.chunked_ce import chunked_kl_sum, chunked_linear_cross_entropy

if TYPE_CHECKING:
    from tunesmith.training.distill import Distiller

LOSS_IMPLS = ("auto", "chunked", "plain", "liger")


def liger_available() -> bool:
    return importlib.util.find_spec("liger_kernel") is not None


def output_linear(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's LM head when it is a plain linear layer (through DDP / DeepSpeed / PEFT)."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    get = getattr(model, "get_output_embeddings", None)
    head = get() if callable(get) else None
    return head if isinstance(head, torch.nn.Linear) else None


def resolve_loss_impl(
    name: str, model: torch.nn.Module, device: torch.device, sharded: str | None = None
) -> str:
    """The implementation `name` asks for on this model and device (ConfigError when it
    cannot run here). `sharded`: the engine that shards parameters (FSDP2, ZeRO-3), with
    which the chunked head is not yet supported (it crashed in the 2-process tests), so
    auto means plain there."""
    if name not in LOSS_IMPLS:
        raise ConfigError(f"train.loss_impl: '{name}' (expected one of {', '.join(LOSS_IMPLS)})")
    if name == "plain":
        return name
    if sharded:
        if name == "auto":
            return "plain"
        raise ConfigError(
            f"train.loss_impl: {name} is not supported with {sharded} (sharded parameters); "
            "use plain or auto"
        )
    plain_head = output_linear(model) is not None
    if name == "auto":
        if not plain_head:
            return "plain"
        return "liger" if device.type == "cuda" and liger_available() else "chunked"
    if not plain_head:
        raise ConfigError(
            f"train.loss_impl: {name} needs the model's output layer to be a plain linear; "
            "here PEFT wraps it (lm_head in modules_to_save, target_modules or "
            "trainable_tokens); use loss_impl plain or auto"
        )
    if name == "liger":
        if device.type != "cuda":
            raise ConfigError(
                "train.loss_impl: liger runs Triton kernels on CUDA GPUs only; use chunked "
                "(the same computation in plain torch) on CPU"
            )
        if not liger_available():
            raise ConfigError(
                "train.loss_impl: liger needs liger-kernel (pip install liger-kernel); or use "
                "chunked"
            )
    return name


def resolve_for_teacher(impl: str, asked: str, teacher: torch.nn.Module) -> str:
    """The distillation KL is chunked from the teacher's hidden states too: its head must be
    a plain linear (auto falls back to plain)."""
    if impl == "plain" or output_linear(teacher) is not None:
        return impl
    if asked == "auto":
        return "plain"
    raise ConfigError(
        f"train.loss_impl: {asked} needs the teacher's output layer to be a plain linear; "
        "use loss_impl plain or auto"
    )


@dataclass
class HeadLoss:
    """What one forward's swapped head computed."""

    ce_sum: torch.Tensor | None = None
    kd_sum: torch.Tensor | None = None


def _liger_sum(hidden: torch.Tensor, head: torch.nn.Linear, targets: torch.Tensor):  # noqa: ANN202
    from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

    loss = LigerFusedLinearCrossEntropyLoss(ignore_index=-100, reduction="sum")
    h = hidden.reshape(-1, hidden.shape[-1])
    return loss(head.weight, h, targets.reshape(-1), head.bias).float()


@contextmanager
def swapped_forward(module: torch.nn.Module, forward: object) -> Iterator[None]:
    """`module.forward` replaced for the duration of the block (hooks still run)."""
    before = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if before is None:
            del module.forward
        else:
            module.forward = before


@contextmanager
def loss_in_head(
    model: torch.nn.Module,
    targets: torch.Tensor,
    impl: str,
    *,
    chunk: int = 0,
    teacher: tuple[torch.Tensor, torch.Tensor, float, int] | None = None,
) -> Iterator[HeadLoss]:
    """Within the block, the model's forward computes the loss sum over `targets` in its
    head (impl chunked or liger) and, with `teacher` = (hidden, head weight, temperature,
    vocab), the distillation KL sum over the target rows."""
    head = output_linear(model)
    assert head is not None, "resolve_loss_impl first"
    out = HeadLoss()

    def forward(hidden: torch.Tensor) -> torch.Tensor:
        t = targets.to(hidden.device)
        if impl == "liger":
            out.ce_sum = _liger_sum(hidden, head, t)
        else:
            out.ce_sum = chunked_linear_cross_entropy(
                hidden, head.weight, t, bias=head.bias, chunk=chunk
            )
        if teacher is not None:
            t_hidden, t_weight, temperature, vocab = teacher
            keep = t != -100
            out.kd_sum = chunked_kl_sum(
                hidden[keep],
                head.weight,
                t_hidden.to(hidden.device)[keep],
                t_weight,
                temperature=temperature,
                vocab=vocab,
                chunk=chunk,
            )
        return hidden.new_zeros((*hidden.shape[:-1], 0))

    with swapped_forward(head, forward):
        yield out


def last_hidden(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> tuple:
    """(final hidden states, head weight) of a model whose head is a plain linear: its
    forward with the head swapped for the identity, so no logits are formed."""
    head = output_linear(model)
    if head is None:
        raise ConfigError("train.loss_impl: the teacher's output layer is not a plain linear")
    with swapped_forward(head, lambda h: h):
        hidden = model(**inputs, use_cache=False).logits
    return hidden, head.weight


def loss_sums(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    impl: str,
    *,
    chunk: int = 0,
    distill: Distiller | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(sum of next-token cross-entropy over the batch's targets, distillation term T^2 KL
    summed over the same targets or None) with the resolved `impl`. Same values as
    `training.loss.logits_and_loss_sum` + `Distiller.kd_sum`, without full logits unless
    impl is plain."""
    if impl == "plain":
        from tunesmith.training.loss import logits_and_loss_sum

        logits, ce = logits_and_loss_sum(model, batch)
        return ce, distill.kd_sum(logits, batch) if distill is not None else None
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items() if k != "targets"}
    teacher = None
    if distill is not None:
        with torch.no_grad():
            t_hidden, t_weight = last_hidden(distill.teacher, inputs)
        # as Distiller.kd_sum: cut padded embedding rows only when the two heads differ
        student_rows = output_linear(model).weight.shape[0]
        vocab = distill.vocab if t_weight.shape[0] != student_rows else student_rows
        teacher = (t_hidden, t_weight, distill.temperature, vocab)
    with loss_in_head(model, batch["targets"], impl, chunk=chunk, teacher=teacher) as out:
        model(**inputs, use_cache=False)
    kd = None
    if out.kd_sum is not None:
        kd = out.kd_sum * distill.temperature**2
    return out.ce_sum, kd
