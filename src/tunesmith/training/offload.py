"""`train.offload_activations`: the tensors autograd saves for backward go to pinned host
memory during the forward pass and come back for backward (CUDA only).

With `train.gradient_checkpointing` (the intended use, as unsloth's "unsloth" checkpointing
and torchtune's / transformers' activation offloading) the tensors saved are each decoder
layer's inputs, one `[tokens, hidden]` tensor per layer, so GPU memory for activations
no longer grows with depth; the copies run on pinned memory, asynchronously. Without
checkpointing every saved activation is offloaded, which moves far more over PCIe; a
notice says so. On CPU the activations already live in host memory: the setting is refused
with a ConfigError rather than silently ignored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from tunesmith.errors import ConfigError


def check_offload(enabled: bool, device: torch.device) -> None:
    if enabled and device.type != "cuda":
        raise ConfigError(
            "train.offload_activations: moves activations from GPU memory to pinned host "
            f"memory and needs a CUDA device; this run is on {device.type}, where activations "
            "already live in host memory; set it to false (gradient_checkpointing alone "
            "saves memory here)"
        )


def offload_notice(enabled: bool, gradient_checkpointing: bool) -> str | None:
    if enabled and not gradient_checkpointing:
        return (
            "offload_activations without gradient_checkpointing: every saved activation "
            "goes to host memory and back (slow); enable train.gradient_checkpointing to "
            "offload only the layer inputs"
        )
    return None


@contextlib.contextmanager
def offloaded(enabled: bool, device: torch.device) -> Iterator[None]:
    """Within the block, saved activations live in pinned host memory (a no-op when not
    `enabled`); wrap the forward pass (backward needs no context)."""
    if not enabled:
        yield
        return
    check_offload(enabled, device)
    with torch.autograd.graph.save_on_cpu(pin_memory=True):
        yield
