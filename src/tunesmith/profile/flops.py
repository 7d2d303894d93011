"""FLOPs of one step, counted as executed by torch's FlopCounterMode.

What counts (the usual "model FLOPs" convention, 2 per multiply-add):
- every matrix multiplication (mm, addmm, bmm, baddbmm, conv): 2 * m * n * k; bias adds,
  norms, activations, softmax, RoPE and the optimizer are not counted;
- attention (SDPA): 2 * S_q * S_k * d per head for the scores and 2 * S_q * S_k * d_v for the
  weighted values, over the full S_q x S_k matrix even when causal masking skips half of it
  (as torch's counter and the common MFU formulas do);
- backward: whatever backward matmuls run (2x the forward of a weight when its gradient is
  needed, 1x when only the input gradient is), and 2x the forward for attention (dQ, dK, dV
  and the score gradient; a kernel's recomputation of the scores is not counted).

- MoE experts run as one grouped matmul: 2 * rows * K * N over the rows routed to each
  expert (tokens x experts per token), so the count does not depend on the routing.

torch's counter knows the CUDA attention kernels but not the CPU one nor grouped matmuls,
and counts backward attention with the recomputation; `FORMULAS` makes all follow the rules
above.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten


def _sdpa_forward(query, key, value, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop_count(query, key, value)


def _sdpa_backward(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return 2 * sdpa_flop_count(query, key, value)


def _grouped_mm(a, b, offs=None, *args, out_val=None, **kwargs) -> int:  # noqa: ANN001
    """MoE experts (`torch._grouped_mm`): 2 * M * K * N summed over the groups; only the rows
    (2d x 3d), contraction (2d x 2d) or columns (3d x 2d) that `offs` covers are computed."""
    used = int(offs[-1]) if offs is not None else None
    if a.dim() == 3 and b.dim() == 3:
        return 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[-1]
    if a.dim() == 2 and b.dim() == 3:
        return 2 * (a.shape[0] if used is None else used) * a.shape[1] * b.shape[-1]
    if a.dim() == 2 and b.dim() == 2:
        return 2 * a.shape[0] * b.shape[1] * (a.shape[1] if used is None else used)
    return 2 * a.shape[1] * a.shape[2] * (b.shape[1] if used is None else used)


_grouped_mm._get_raw = True  # type: ignore[attr-defined]  (it reads `offs`, not only shapes)

FORMULAS = {
    aten._grouped_mm: _grouped_mm,
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_forward,
    aten._scaled_dot_product_flash_attention_for_cpu_backward: _sdpa_backward,
    aten._scaled_dot_product_flash_attention_backward: _sdpa_backward,
    aten._scaled_dot_product_efficient_attention_backward: _sdpa_backward,
    aten._scaled_dot_product_cudnn_attention_backward: _sdpa_backward,
}


@dataclass
class Flops:
    total: int
    by_op: dict[str, int]
    """profiler-style op name (aten::mm) -> FLOPs"""
    by_module: dict[str, int]
    """normalised module name (layers.0 -> layers.*) -> FLOPs; reliable for forward passes
    only (torch's module tracking misattributes parts of backward), so count a forward"""


def module_key(name: str) -> str:
    """`model.layers.3.mlp` -> `model.layers.*.mlp`: one row for every layer's copy (and a
    PeftModel's `base_model.model.` dropped, so rows read as the model's own names)."""
    return re.sub(r"(?<=\.)\d+(?=\.|$)", "*", name.removeprefix("base_model.model."))


def count_flops(fn: Callable[[], object]) -> Flops:
    """Run `fn` once under the counter."""
    with FlopCounterMode(display=False, custom_mapping=FORMULAS) as counter:
        fn()
    counts = counter.get_flop_counts()
    by_op = {str(op).replace(".", "::", 1): n for op, n in counts.get("Global", {}).items()}
    by_module: dict[str, int] = {}
    for name, ops in counts.items():
        _root, dot, rest = name.partition(".")
        if name == "Global" or not dot:  # the total, and the root module (the whole model)
            continue
        key = module_key(rest)
        by_module[key] = by_module.get(key, 0) + sum(ops.values())
    return Flops(total=counter.get_total_flops(), by_op=by_op, by_module=by_module)
