"""One `distributed:` config section -> an `accelerate.Accelerator` on the real engine.

    distributed: {strategy: deepspeed, zero_stage: 3, offload_optimizer: cpu}
    tunesmith train cfg.yaml --nproc 2          # torchrun on this machine

strategy   engine                                   process group
none       one process                              -
ddp        torch DistributedDataParallel            gloo on CPU, nccl on CUDA
deepspeed  DeepSpeed ZeRO 1/2/3 (+ CPU offload)     DeepSpeed's (gloo on its CPU accelerator)
fsdp       torch FSDP2 (fully_shard per decoder layer; training/fsdp.py)

The generated DeepSpeed JSON / FSDP settings are written to the run directory
(`deepspeed.json`, `fsdp.json`) so a run can be reproduced or moved to `accelerate launch`.

Global batch: each optimizer step consumes `train.grad_accum x world_size` micro-batches of
one global order; rank r takes every world_size-th. The token-weighted loss divides by the
target count of the whole global window (all-reduced), so a 2-process run follows the
single-process run with `grad_accum` doubled.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import DeepSpeedPlugin

from tunesmith.config.schema import Config, DistributedConfig
from tunesmith.errors import ConfigError
from tunesmith.log import to_log_file

_log = logging.getLogger("tunesmith.run")  # the run's stdout lines, into --log-file

MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}
SHARDED = ("deepspeed", "fsdp")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def check_launch(cfg: DistributedConfig) -> None:
    """The strategy and the way the process was launched agree."""
    if cfg.strategy == "none" and world_size() > 1:
        raise ConfigError(
            f"distributed.strategy: 'none' but {world_size()} processes were launched; "
            "set distributed.strategy to ddp, deepspeed or fsdp"
        )
    if cfg.strategy == "deepspeed":
        try:
            import deepspeed  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                "distributed.strategy: deepspeed is not installed; pip install 'tunesmith[deepspeed]'"
            ) from e
    if cfg.offload_params == "cpu" and cfg.strategy == "deepspeed" and cfg.zero_stage != 3:
        raise ConfigError("distributed.offload_params: parameter offload needs zero_stage 3")
    if cfg.offload_optimizer == "cpu" and cfg.strategy != "deepspeed":
        raise ConfigError("distributed.offload_optimizer: only with strategy deepspeed")
    if cfg.offload_params == "cpu" and cfg.strategy not in SHARDED:
        raise ConfigError("distributed.offload_params: only with strategy deepspeed or fsdp")
    if cfg.backend == "nccl" and not torch.cuda.is_available():
        raise ConfigError("distributed.backend: nccl needs CUDA GPUs; use gloo (or auto) on CPU")


def deepspeed_config(cfg: Config) -> dict[str, Any]:
    """The DeepSpeed JSON: ZeRO stage, offload, clipping, precision, batch geometry."""
    d, t = cfg.distributed, cfg.train
    zero: dict[str, Any] = {"stage": d.zero_stage}
    if d.offload_optimizer == "cpu":
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if d.offload_params == "cpu":
        zero["offload_param"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if d.zero_stage == 3:
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return {
        "train_micro_batch_size_per_gpu": 1,  # a micro-batch is one packed row set, not samples
        "gradient_accumulation_steps": t.grad_accum,
        "train_batch_size": t.grad_accum * world_size(),
        "gradient_clipping": t.max_grad_norm,
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": True,
        "bf16": {"enabled": t.precision == "bf16"},
        "fp16": {"enabled": t.precision == "fp16"},
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def cpu_mode(cfg: DistributedConfig) -> bool:
    """accelerate's `cpu` flag. DeepSpeed on a CPU-only machine runs on DeepSpeed's own CPU
    accelerator, which accelerate only hands over to when not forced onto its CPU path."""
    return not torch.cuda.is_available() and cfg.strategy != "deepspeed"


def process_group_kwargs(cfg: DistributedConfig) -> dict[str, Any]:
    """PartialState arguments: CPU or not, and (only when launched on several processes)
    the process-group backend and timeout. Also tells accelerate which engine to expect."""
    # accelerate reads the engine from the environment when the process group starts
    os.environ["ACCELERATE_USE_DEEPSPEED"] = "true" if cfg.strategy == "deepspeed" else "false"
    os.environ["ACCELERATE_USE_FSDP"] = "false"  # FSDP2 is applied by training/fsdp.py
    cuda = torch.cuda.is_available()
    kwargs: dict[str, Any] = {"cpu": cpu_mode(cfg)}
    if world_size() > 1:
        kwargs["backend"] = {"auto": "nccl" if cuda else "gloo"}.get(cfg.backend, cfg.backend)
        kwargs["timeout"] = datetime.timedelta(minutes=cfg.timeout_minutes)
    return kwargs


def make_accelerator(cfg: Config, run_dir: Path) -> Accelerator:
    """An Accelerator for `cfg.distributed`; writes the engine settings into `run_dir`."""
    d, t = cfg.distributed, cfg.train
    kwargs: dict[str, Any] = {
        "mixed_precision": MIXED_PRECISION[t.precision],
        "cpu": cpu_mode(d),
        "gradient_accumulation_steps": t.grad_accum,
    }
    settings: dict[str, Any] | None = None
    if d.strategy == "deepspeed":
        settings = deepspeed_config(cfg)
        kwargs["deepspeed_plugin"] = DeepSpeedPlugin(hf_ds_config=settings)
        name = "deepspeed.json"
    accelerator = Accelerator(**kwargs)
    if settings is not None and accelerator.is_main_process:
        (run_dir / name).write_text(json.dumps(settings, indent=2) + "\n")
    return accelerator


class Ranks:
    """This process's place in the group, and the few collectives the loop needs."""

    def __init__(self, accelerator: Accelerator | None, strategy: str = "none") -> None:
        self.accelerator = accelerator
        self.strategy = strategy
        self.world = accelerator.num_processes if accelerator else 1
        self.rank = accelerator.process_index if accelerator else 0
        self.is_main = accelerator.is_main_process if accelerator else True

    @classmethod
    def single(cls) -> Ranks:
        return cls(None)

    def unwrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return self.accelerator.unwrap_model(model) if self.accelerator else model

    @property
    def sharded(self) -> bool:
        return self.strategy in SHARDED

    def local(self, window: list[Any]) -> list[Any]:
        """This rank's micro-batches of the global window."""
        return window[self.rank :: self.world]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64, so counts stay exact)."""
        if self.world == 1:
            return values
        assert self.accelerator is not None
        t = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        dist.all_reduce(t)
        return t.tolist()

    def barrier(self) -> None:
        if self.accelerator is not None and self.world > 1:
            self.accelerator.wait_for_everyone()

    def print(self, *args: object) -> None:
        if self.is_main:
            print(*args, flush=True)
            to_log_file(_log, " ".join(str(a) for a in args))
