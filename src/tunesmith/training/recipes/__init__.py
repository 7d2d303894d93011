"""Training recipes: one module per objective, each a `train(cfg) -> run_dir` that reads top
to bottom over the shared pieces (training/setup.py, steps.py, finish.py).

A new objective adds a module here and a name in `config.schema.RECIPES`; it may bring its
own data format (its own collate and batches), a reference or teacher model (loaded between
the setup calls) and several phases per step (e.g. generate rollouts, then
`accumulate_gradients` with its own `Objective`, then `StepLoop.step`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.training.preference import recipe as preference
from tunesmith.training.recipes import distill, sft
from tunesmith.training.rl import recipe as grpo

RECIPES: dict[str, Callable[[Config], Path]] = {
    "sft": sft.train,
    "distill": distill.train,
    "preference": preference.train,
    "grpo": grpo.train,
}
