"""`tunesmith train CONFIG --nproc N`: run N training processes on this machine (torchrun).

Each process re-enters `tunesmith train` with torchrun's RANK / WORLD_SIZE / MASTER_ADDR set;
the config's `distributed` section picks the engine. Multi-node runs use the same entry
point under torchrun, the deepspeed launcher or `accelerate launch` (docs/train.md).
"""

from __future__ import annotations

import os
import subprocess
import sys

from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError


def torchrun_command(config: str, overrides: list[str], nproc: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "tunesmith.cli.main",
        "train",
        config,
        *overrides,
    ]


def launch_local(cfg: Config, config: str, overrides: list[str], nproc: int) -> int:
    """Run `nproc` processes and wait; returns the exit code (non-zero if any rank failed)."""
    if nproc < 1:
        raise ConfigError(f"--nproc: {nproc} processes; expected 1 or more")
    if cfg.distributed.strategy == "none" and nproc > 1:
        raise ConfigError(
            f"--nproc {nproc}: distributed.strategy is 'none'; set distributed.strategy to ddp, "
            "deepspeed or fsdp (e.g. distributed.strategy=ddp)"
        )
    if "WORLD_SIZE" in os.environ:
        raise ConfigError("--nproc: already inside a distributed launch; drop --nproc")
    env = dict(os.environ)
    # One CPU thread per process unless the user chose; N processes share this machine's cores.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    return subprocess.call(torchrun_command(config, overrides, nproc), env=env)
