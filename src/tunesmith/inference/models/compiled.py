"""`torch.compile` of the engine's own forward for a few token-count buckets.

The layers' pure functions (`pre`: norm, fused projections, rotary; `post`: output
projection, MLP or MoE) are compiled once each with static shapes, one graph per bucket
shared by every layer (weights are graph inputs). A step of T token rows runs padded to the
smallest bucket >= T (decode steps of up to `max(buckets)` sequences); larger steps (long
prompt chunks) run the same functions eagerly. Attention stays eager between the pieces.
Inductor generates C++ on CPU and Triton (with CUDA graphs under `mode="reduce-overhead"`)
on GPU. `compile_native` warms every bucket before it returns, so no request pays a compile.
"""

from __future__ import annotations

import logging
import time

import torch

from tunesmith.inference.models.base import NativeCausalLM

log = logging.getLogger(__name__)

DEFAULT_BUCKETS = (1, 2, 4, 8, 16, 32)


def compile_native(
    native: NativeCausalLM, buckets: tuple[int, ...] = DEFAULT_BUCKETS, mode: str | None = None
) -> float:
    """Compile `native`'s layer functions for `buckets` token counts, warm them; returns the
    seconds it took (start-up time)."""
    if not buckets or min(buckets) < 1:
        raise ValueError(f"compile buckets must be positive token counts, got {buckets}")
    started = time.perf_counter()
    fns = native.functions
    fns.compiled = {n: torch.compile(f, dynamic=False, mode=mode) for n, f in fns.eager.items()}
    native.buckets = tuple(sorted(set(buckets)))
    _warm(native)
    seconds = time.perf_counter() - started
    log.info("engine: compiled %s for buckets %s in %.1f s", native.family, native.buckets, seconds)
    return seconds


@torch.inference_mode()
def _warm(native: NativeCausalLM) -> None:
    """Run every layer kind's pieces once per bucket (no cache involved)."""
    kinds: dict[tuple, object] = {}
    for layer in native.layers:
        kinds.setdefault((type(layer), getattr(layer, "moe", None)), layer)
    dtype, device = native.embed.dtype, native.embed.device
    native.functions.use_compiled = True
    for n in native.buckets:
        ids = torch.zeros(n, dtype=torch.long, device=device)
        x = torch.nn.functional.embedding(ids, native.embed)
        cos, sin = native.rotary(x[None], ids[None])
        rows = None if native.adapters is None else ids
        for layer in kinds.values():
            q, _, v = layer.pre(x, cos[0], sin[0], rows)
            width = layer.value_width or v.shape[-1]
            attn = torch.zeros(*q.shape[:2], width, dtype=dtype, device=device)
            layer.post(x, attn, rows)
