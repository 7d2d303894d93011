"""`train(cfg)`: run the recipe the config names (`recipe: sft | distill`).

Each recipe lives in training/recipes/ and reads top to bottom over the shared setup
(training/setup.py), step bookkeeping (training/steps.py) and outputs (training/finish.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.training.batches import BatchStream
from tunesmith.training.recipes import RECIPES
from tunesmith.training.run_dir import finished_run

__all__ = ["BatchStream", "check_training_config", "train"]


def check_training_config(cfg: Config) -> None:
    """Checks that need neither weights nor data (the --nproc launcher makes them too)."""
    from tunesmith.training import setup
    from tunesmith.training.distill import check_distill

    setup.check(cfg)
    if cfg.recipe == "distill":
        check_distill(cfg)


def train(cfg: Config) -> Path:
    """Fine-tune as `cfg` says; return the run directory."""
    done = finished_run(cfg)
    if done is not None:  # train.resume=auto on a run that already finished
        if os.environ.get("RANK", "0") == "0":
            print(done, flush=True)
        return Path(cfg.output.dir)
    return RECIPES[cfg.recipe](cfg)
