"""What happens around every optimizer step, whatever the recipe computed before it:

    loop = StepLoop(cfg, run, engine, opt, state, evaluate=..., save_best=...)
    with loop:
        while loop.running():
            step = accumulate_gradients(...)     # the recipe's phases: forward, backward, ...
            loop.step(step)                      # clip, step, schedule, log, eval, save, stop?
    summary = loop.summary()

or, for a single-phase recipe, `loop.fit(next_window, objective, router=router)`.

`step()` owns the bookkeeping every recipe shares: gradient clipping, the optimizer and
schedule step, the metrics record (step, epoch, loss, lr, grad_norm, tokens, tokens/s and the
objective's own terms), evaluation with best-metric tracking, save_best, early stopping,
the progress bar and checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType

from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError
from tunesmith.models.moe import RouterAuxLoss
from tunesmith.progress import TrainProgress
from tunesmith.training.checkpoint import save_checkpoint
from tunesmith.training.logging import MetricsLogger
from tunesmith.training.loss import Objective, StepLoss, accumulate_gradients
from tunesmith.training.neftune import NEFTune, attach_neftune
from tunesmith.training.run_dir import checkpoints_dir
from tunesmith.training.setup import Engine, Optimization, Run
from tunesmith.training.state import TrainState
from tunesmith.training.trackers import report_to


class StepLoop:
    """The shared step bookkeeping of a recipe's loop (see the module docstring)."""

    def __init__(
        self,
        cfg: Config,
        run: Run,
        engine: Engine,
        opt: Optimization,
        state: TrainState,
        *,
        evaluate: Callable[[], dict[str, float]],
        save_best: Callable[[Path], Any],
    ) -> None:
        self.cfg, self.run, self.engine, self.opt, self.state = cfg, run, engine, opt, state
        self.evaluate, self.save_best = evaluate, save_best
        self.total_steps = opt.total_steps
        self.start_step, self.start_tokens = state.step, state.tokens_seen
        self.stopped_early = False
        self.logger = (
            MetricsLogger(
                run.dir, trackers=report_to(cfg.output), resume_step=state.step, config=cfg
            )
            if engine.ranks.is_main
            else None
        )
        self.neftune: NEFTune | None = None
        self.progress = TrainProgress(
            self.total_steps, state.step, enabled=cfg.train.progress and engine.ranks.is_main
        )
        self.started = 0.0
        self.step_started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> StepLoop:
        self.opt.model.train()
        model = self.engine.ranks.unwrap(self.opt.model)
        self.neftune = attach_neftune(model, self.cfg.train.neftune_alpha)
        self.started = time.perf_counter()
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)
        if self.neftune is not None:  # saved and evaluated models see plain embeddings
            self.neftune.remove()
        self.seconds = time.perf_counter() - self.started

    def fit(
        self,
        next_window: Callable[[], list[dict[str, torch.Tensor]]],
        objective: Objective,
        *,
        router: RouterAuxLoss | None = None,
    ) -> None:
        """The single-phase loop (sft, distill): each step backpropagates `objective` over the
        next window of micro-batches. A recipe with more phases (rollouts, then the update)
        writes its own `while loop.running(): ...; loop.step(step)` instead."""
        with self:
            while self.running():
                step = accumulate_gradients(
                    self.engine.accelerator,
                    self.opt.model,
                    next_window(),
                    objective,
                    ranks=self.engine.ranks,
                    router=router if router else None,
                    aux_coef=self.cfg.train.router_aux_loss_coef,
                    offload=self.cfg.train.offload_activations,
                )
                self.step(step)

    def running(self) -> bool:
        """True while steps remain and early stopping has not fired; starts the step's clock."""
        self.step_started = time.perf_counter()
        return self.state.step < self.total_steps and not self.stopped_early

    def step(self, step: StepLoss) -> dict[str, Any]:
        """The optimizer step after the recipe's backward, then log / eval / save; the record."""
        t, state, opt = self.cfg.train, self.state, self.opt
        state.tokens_seen += step.tokens
        grad_norm = _clip(self.engine.accelerator, opt.model, t.max_grad_norm)
        lr = opt.scheduler.get_last_lr()[0]  # the rate this step trains at
        opt.optimizer.step()
        opt.scheduler.step()
        opt.optimizer.zero_grad(set_to_none=True)
        state.step += 1

        elapsed = time.perf_counter() - self.started
        record: dict[str, Any] = {
            "step": state.step,
            "epoch": state.epoch,
            "loss": step.loss,
            "lr": lr,
            "grad_norm": grad_norm,
            "tokens": state.tokens_seen,
            "tokens_per_s": (state.tokens_seen - self.start_tokens) / max(elapsed, 1e-9),
            "step_seconds": time.perf_counter() - self.step_started,
        }
        if step.aux_loss is not None:
            record["aux_loss"] = step.aux_loss
        record.update(step.extras)
        last = state.step == self.total_steps
        evals: dict[str, float] = {}
        if (t.eval_every and state.step % t.eval_every == 0) or last:
            evals = self._evaluate()
            record.update(evals)
        if self.logger is not None and (state.step % t.log_every == 0 or last or evals):
            self.logger.log(record)
        self.progress.update(state.step, record)
        if t.save_every and (state.step % t.save_every == 0 or last):
            save_checkpoint(
                checkpoints_dir(self.run.dir),
                model=opt.model,
                optimizer=opt.optimizer,
                scheduler=opt.scheduler,
                state=state,
                keep_last=t.keep_last,
                ranks=self.engine.ranks,
            )
        if self.stopped_early:
            self.engine.ranks.print(
                f"early stop at step {state.step}: no better {t.early_stopping_metric} "
                f"in {t.early_stopping_patience} evaluations"
            )
        return record

    def _evaluate(self) -> dict[str, float]:
        t, state = self.cfg.train, self.state
        evals = self.evaluate()
        if evals:
            state.history.append({"step": state.step, **evals})
            improved = track_best(state, evals, self.cfg)
            if improved and t.save_best:
                self.save_best(self.run.dir / "best")
            self.stopped_early = bool(t.early_stopping_patience) and (
                state.evals_without_improvement >= t.early_stopping_patience
            )
        return evals

    def close(self) -> list[dict] | None:
        """Close the metrics files; the records written (rank 0), else None."""
        if self.logger is None:
            return None
        self.logger.close()
        return self.logger.records()

    def summary(self) -> dict[str, Any]:
        """The loop's part of train_summary.json."""
        state = self.state
        return {
            "steps": state.step,
            "total_steps": self.total_steps,
            "stopped_early": self.stopped_early,
            "train_seconds": self.seconds,
            "tokens_per_s": (state.tokens_seen - self.start_tokens) / max(self.seconds, 1e-9),
            "steps_this_process": state.step - self.start_step,
        }


def _clip(accelerator: Accelerator, model: torch.nn.Module, max_norm: float) -> float:
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # the engine clipped (gradient_clipping) and stepped inside the last backward
        return float(accelerator.deepspeed_engine_wrapped.get_global_grad_norm() or 0.0)
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm > 0:
        return float(accelerator.clip_grad_norm_(params, max_norm))
    return float(torch.nn.utils.get_total_norm([p.grad for p in params]))


def track_best(state: TrainState, evals: dict[str, float], cfg: Config) -> bool:
    """Best-metric bookkeeping for early stopping and save_best; True when this evaluation
    improved on the best so far."""
    t = cfg.train
    if not (t.early_stopping_patience or t.save_best):
        return False
    name = t.early_stopping_metric
    if name not in evals:
        raise ConfigError(
            f"train.early_stopping_metric: '{name}' is not computed; available: {', '.join(evals)}"
        )
    value = evals[name]
    better = state.best_metric is None or (
        value < state.best_metric if t.early_stopping_mode == "min" else value > state.best_metric
    )
    if better:
        state.best_metric, state.best_step, state.evals_without_improvement = value, state.step, 0
    else:
        state.evals_without_improvement += 1
    return better
