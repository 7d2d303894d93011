"""The end of every recipe: final weights, metrics files, loss curve, train_summary.json and
the output's model card (README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from tunesmith.adapters.report import MethodReport
from tunesmith.config.schema import Config
from tunesmith.training.card import write_training_card
from tunesmith.training.data import Splits
from tunesmith.training.logging import plot_loss_curve
from tunesmith.training.output import save_final
from tunesmith.training.setup import Engine
from tunesmith.training.steps import StepLoop


def finish(
    cfg: Config,
    loop: StepLoop,
    model: torch.nn.Module,
    tok: PreTrainedTokenizerBase,
    base_dir: str | None,
    *,
    engine: Engine,
    report: MethodReport,
    splits: Splits,
    recipe: dict[str, Any] | None = None,
) -> Path:
    """Write adapter/ or model/ (every rank joins), then on rank 0 the metrics files, the
    loss curve and train_summary.json; the run directory."""
    run_dir = loop.run.dir
    out_dir = save_final(
        model, tok, run_dir, base_dir, accelerator=engine.accelerator, ranks=engine.ranks
    )
    records = loop.close()
    if records is None:
        return run_dir
    if cfg.output.plot:
        plot_loss_curve(records, run_dir / "loss_curve.png")
    path = write_summary(
        cfg, loop, output=out_dir, engine=engine, report=report, splits=splits, recipe=recipe
    )
    summary = json.loads(path.read_text())
    losses = [r["loss"] for r in records if "loss" in r]
    summary["final_train_loss"] = losses[-1] if losses else None
    write_training_card(cfg, summary, out_dir, run_dir)
    return run_dir


def write_summary(
    cfg: Config,
    loop: StepLoop,
    *,
    output: Path,
    engine: Engine,
    report: MethodReport,
    splits: Splits,
    recipe: dict[str, Any] | None = None,
) -> Path:
    """Write RUN/train_summary.json; `recipe` is the recipe's own section (e.g. distill)."""
    t, state, run_dir = cfg.train, loop.state, loop.run.dir
    summary = {
        "run_dir": str(run_dir),
        "output": str(output),
        "recipe": cfg.recipe,
        "method": cfg.method.name,
        **({cfg.recipe: recipe} if recipe is not None else {}),
        "distributed": {"strategy": cfg.distributed.strategy, "processes": engine.ranks.world},
        **loop.summary(),
        "trainable_params": report.trainable,
        "total_params": report.total,
        "trainable_by_group": report.groups,
        "data": {k: v.as_dict() for k, v in splits.stats.items()},
        "final": state.history[-1] if state.history else {},
        "best": {
            "metric": t.early_stopping_metric,
            "value": state.best_metric,
            "step": state.best_step,
            "dir": str(run_dir / "best") if t.save_best else None,
        }
        if state.best_step is not None
        else None,
    }
    path = run_dir / "train_summary.json"
    path.write_text(json.dumps(summary, indent=2))
    return path
