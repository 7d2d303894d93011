"""`train(cfg)`: run the recipe the config names (`recipe: sft | distill`).

Each recipe lives in training/recipes/ and reads top to bottom over the shared setup
(training/setup.py), step bookkeeping (training/steps.py) and outputs (training/finish.py).
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.training.batches import BatchStream
from tunesmith.training.recipes import RECIPES

__all__ = ["BatchStream", "train"]


def train(cfg: Config) -> Path:
    """Fine-tune as `cfg` says; return the run directory."""
    return RECIPES[cfg.recipe](cfg)
