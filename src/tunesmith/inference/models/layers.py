"""Pure tensor functions shared by the engine's own model forwards (no modules, no state).

Every function takes its weights as arguments, so `torch.compile` traces one graph per
function and token-count bucket that every layer of a model shares (see `compiled`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tunesmith.inference.models.lora import Lora, base_linear, lora_linear


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Hugging Face's Llama/Qwen2/DeepSeek RMSNorm: normalise in fp32, scale in x's dtype."""
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return weight * h.to(x.dtype)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return F.linear(x, weight, bias)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split layout. x `[T, heads, d]`; cos/sin `[T, d]`."""
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


def rope_interleaved(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on interleaved pairs (DeepSeek's `rope_interleave`): the pairs
    (x0, x1), (x2, x3), ... rotate together and come out de-interleaved, as in HF."""
    half = cos.shape[-1] // 2
    c, s = cos[:, None, :half], sin[:, None, :half]
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def fused_mlp(
    x: torch.Tensor,
    gate_up: torch.Tensor,
    down: torch.Tensor,
    act: str,
    lora: Lora | None = None,
    prefix: str = "",
) -> torch.Tensor:
    """SwiGLU-style MLP with the gate and up projections fused into one matmul (LoRA
    stacks `{prefix}gate_up` and `{prefix}down` applied per row when given)."""
    gate, up = lora_linear(x, gate_up, None, lora, prefix + "gate_up").chunk(2, dim=-1)
    return lora_linear(activation(gate, act) * up, down, None, lora, prefix + "down")


def activation(x: torch.Tensor, name: str) -> torch.Tensor:
    if name == "silu":
        return F.silu(x)
    if name in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
        return F.gelu(x, approximate="none" if name == "gelu" else "tanh")
    raise ValueError(f"activation '{name}' is not supported by the engine's own forward")


def cat_weights(*linears: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for several linears fed the same input (fused QKV, gate+up)."""
    linears = tuple(base_linear(lin) for lin in linears)
    weight = torch.cat([lin.weight.detach() for lin in linears], dim=0)
    biases = [lin.bias for lin in linears]
    if all(b is None for b in biases):
        return weight, None
    parts = [
        b.detach() if b is not None else weight.new_zeros(lin.weight.shape[0])
        for lin, b in zip(linears, biases, strict=True)
    ]
    return weight, torch.cat(parts)
