"""FSDP2 with torch's own `fully_shard`: every decoder layer, then the root, on a 1-D mesh.

tunesmith shards the model itself rather than through accelerate's FSDP plugin, because
accelerate turns FSDP on only for GPU process groups; torch's FSDP2 also runs on CPU over
gloo, so the same path is tested here and used on GPUs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import CPUOffloadPolicy, fully_shard

from tunesmith.config.schema import DistributedConfig
from tunesmith.errors import ConfigError


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated decoder blocks (each one FSDP unit)."""
    for name, module in model.named_modules():
        if name.endswith(".layers") and isinstance(module, torch.nn.ModuleList):
            return list(module)
    raise ConfigError("distributed.strategy: fsdp could not find the model's decoder layers")


def fsdp_settings(model: torch.nn.Module, cfg: DistributedConfig, world: int) -> dict[str, Any]:
    layers = decoder_layers(model)
    return {
        "engine": "torch FSDP2 (torch.distributed.fsdp.fully_shard)",
        "mesh": [world],
        "units": f"each {type(layers[0]).__name__} ({len(layers)}), then the root module",
        "reshard_after_forward": cfg.fsdp_reshard_after_forward,
        "offload_params": cfg.offload_params,
        "state_dict": "sharded (torch.distributed.checkpoint) in checkpoints, full in outputs",
    }


def shard_model(
    model: torch.nn.Module, cfg: DistributedConfig, device: torch.device, world: int, run_dir: Path,
    is_main: bool,
) -> torch.nn.Module:  # fmt: skip
    """fully_shard the model in place; writes fsdp.json into the run directory (rank 0)."""
    model.to(device)
    mesh = init_device_mesh(device.type, (world,))
    kwargs: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": cfg.fsdp_reshard_after_forward}
    if cfg.offload_params == "cpu":
        kwargs["offload_policy"] = CPUOffloadPolicy(pin_memory=torch.cuda.is_available())
    if is_main:
        settings = fsdp_settings(model, cfg, world)
        (run_dir / "fsdp.json").write_text(json.dumps(settings, indent=2) + "\n")
    for layer in decoder_layers(model):
        fully_shard(layer, **kwargs)
    fully_shard(model, **kwargs)
    return model


def full_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's state dict on CPU, gathered from every rank (a collective)."""
    return get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
