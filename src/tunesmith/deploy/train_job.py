"""What every multi-node training job shares (`deploy k8s --train`, `deploy slurm`): the
training config, checked and resolved on this machine, and the torchrun command each node
runs.

Every node runs one torchrun agent; the agents meet at a c10d rendezvous on the first node
and start `gpus_per_node` training processes each. The command always ends in
`train.resume=auto`, so a restarted pod or a requeued job continues from the last checkpoint
in the shared run directory instead of starting over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunesmith.config.jobs import TrainJobSettings
from tunesmith.errors import ConfigError

RESUME = "train.resume=auto"
TRAIN_YAML = "train.yaml"


@dataclass(frozen=True)
class TrainJob:
    config_yaml: str
    """the training config with the overrides applied, as `tunesmith config show` prints it"""
    nproc_per_node: int
    world_size: int
    run_dir: str
    """output.dir as written in the config (relative paths resolve in the job's workdir)"""
    strategy: str
    notes: tuple[str, ...]
    """what the user should know (printed by the CLI, written into README.md)"""


def plan_job(s: TrainJobSettings) -> TrainJob:
    """Load and check the training config as `tunesmith train` would (unknown keys, types,
    bounds: the same errors), then check that it can run as `nodes` x `gpus_per_node`."""
    from tunesmith.config import config_to_yaml, load_config

    if not Path(s.train).is_file():
        raise ConfigError(f"--train: '{s.train}' does not exist (expected a training YAML)")
    cfg = load_config(s.train, list(s.train_overrides))
    nproc = max(1, s.gpus_per_node)
    world = s.nodes * nproc
    strategy = cfg.distributed.strategy
    if strategy == "none" and world > 1:
        raise ConfigError(
            f"--train {s.train}: distributed.strategy is 'none' (one process), but the job "
            f"starts {world} ({s.nodes} nodes x {nproc}); set distributed.strategy to ddp, "
            "deepspeed or fsdp (in the file or --train-overrides distributed.strategy=ddp)"
        )
    if s.gpus_per_node == 0 and cfg.distributed.backend == "nccl":
        raise ConfigError(
            "--gpus-per-node 0 runs on CPUs, but distributed.backend is 'nccl' (GPUs only); "
            "use auto or gloo"
        )
    notes = []
    if cfg.train.save_every == 0:
        notes.append(
            "train.save_every is 0: the run writes no checkpoint before it ends, so a "
            "restarted job starts over; set train.save_every to resume part way"
        )
    if Path(cfg.output.dir).is_absolute():
        notes.append(
            f"output.dir '{cfg.output.dir}' is absolute: it must exist on every node "
            "(relative paths resolve in the shared working directory)"
        )
    return TrainJob(
        config_yaml=config_to_yaml(cfg),
        nproc_per_node=nproc,
        world_size=world,
        run_dir=cfg.output.dir,
        strategy=strategy,
        notes=tuple(notes),
    )


def torchrun_args(
    job: TrainJob, s: TrainJobSettings, *, endpoint: str, rdzv_id: str, config: str
) -> list[str]:
    """torchrun's arguments on every node: c10d rendezvous at `endpoint` (HOST:PORT of the
    first node), then `tunesmith train CONFIG train.resume=auto`."""
    return [
        f"--nnodes={s.nodes}",
        f"--nproc-per-node={job.nproc_per_node}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
        f"--rdzv-id={rdzv_id}",
        f"--max-restarts={s.max_restarts}",
        "-m",
        "tunesmith.cli.main",
        "train",
        config,
        RESUME,
    ]
