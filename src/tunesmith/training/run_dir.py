"""The run directory: what may be written into it, and which checkpoint to resume from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tunesmith.config.load import config_to_dict, load_config
from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError, TunesmithError
from tunesmith.training.checkpoint import list_checkpoints

OUTPUTS = (
    "config.yaml",
    "train_summary.json",
    "rejects.jsonl",
    "metrics.jsonl",
    "checkpoints",
    "tensorboard",
    "trackers.json",  # a fresh start opens new tracker runs
    "mlruns",
    "wandb",
    "adapter",
    "model",
    "base",
    "best",
    "loss_curve.png",
    "deepspeed.json",
    "fsdp.json",
)


# What makes a directory "hold a run": a failed start (config.yaml, base/) does not.
RESULTS = ("metrics.jsonl", "checkpoints", "adapter", "model", "best")


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def prepare_run_dir(cfg: Config) -> tuple[Path, Path | None]:
    """Create the run dir; return it and the checkpoint to resume from (None: fresh start)."""
    run_dir, ckpt = plan_run_dir(cfg)
    if ckpt is None:
        clear_outputs(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, ckpt


def plan_run_dir(cfg: Config) -> tuple[Path, Path | None]:
    """The run dir and checkpoint to resume from, or a ConfigError; writes nothing (so every
    rank of a distributed run can decide alike before rank 0 touches the directory)."""
    run_dir = Path(cfg.output.dir)
    resume = cfg.train.resume
    ckpt: Path | None = None
    if resume == "auto":
        found = list_checkpoints(checkpoints_dir(run_dir))
        ckpt = found[-1] if found else None
    elif resume != "none":
        ckpt = Path(resume)
        if not (ckpt / "state.json").is_file():
            raise ConfigError(
                f"train.resume: '{resume}' is not a checkpoint directory "
                "(expected 'none', 'auto' or a path like runs/x/checkpoints/step-000010)"
            )
    has_outputs = any((run_dir / name).exists() for name in RESULTS)
    if ckpt is None and has_outputs and not cfg.output.overwrite:
        if resume == "auto":
            raise ConfigError(
                f"train.resume=auto: '{run_dir}' holds a run but no checkpoint to resume from "
                "(checkpoints need train.save_every > 0); set output.overwrite=true to start over"
            )
        raise ConfigError(
            f"output.dir: '{run_dir}' already holds a run; set train.resume=auto to continue "
            "it or output.overwrite=true to start over"
        )
    return run_dir, ckpt


def finished_run(cfg: Config) -> str | None:
    """With train.resume=auto, a run dir whose run finished with this same config: the line
    to print instead of training again (so a command can be re-run as written), else None.

    "Finished" means train_summary.json is there (the last thing a run writes) and the
    saved config.yaml equals `cfg` apart from train.resume and output.overwrite. A changed
    config (say a larger train.max_steps) resumes from the last checkpoint as before.
    """
    run_dir = Path(cfg.output.dir)
    summary, saved = run_dir / "train_summary.json", run_dir / "config.yaml"
    if cfg.train.resume != "auto" or not (summary.is_file() and saved.is_file()):
        return None
    try:
        before = _comparable(load_config(saved))
        steps = json.loads(summary.read_text())["steps"]
    except (TunesmithError, ValueError, KeyError, TypeError):
        return None  # unreadable: not provably the same run; plan_run_dir decides
    if before != _comparable(cfg):
        return None
    return (
        f"{run_dir}: this run is complete ({steps} steps with this config); nothing to do "
        "(output.overwrite=true trains it again from the start)"
    )


def _comparable(cfg: Config) -> dict:
    d = config_to_dict(cfg)
    d["train"].pop("resume", None)
    d["output"].pop("overwrite", None)
    return d


def clear_outputs(run_dir: Path) -> None:
    """Fresh start: remove what an earlier (overwritten or failed) start left."""
    for name in OUTPUTS:
        target = run_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
