"""The training recipe, top to bottom: config in, run directory out.

setup      run dir, seed, accelerator, model + method, data, optimizer, schedule
resume     weights, optimizer, schedule, RNG and data position from a checkpoint
loop       grad_accum micro-batches -> one token-weighted step -> log / eval / save
finish     adapter or full model + tokenizer, metrics, loss curve, summary
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedType, set_seed

from tunesmith.adapters.peft_setup import attach_method, check_method, check_method_before_load
from tunesmith.adapters.report import method_report
from tunesmith.config.load import save_config
from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError
from tunesmith.log import quiet_libraries
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.models.moe import RouterAuxLoss
from tunesmith.tokenize.collate import collate_packed, collate_padded
from tunesmith.tokenize.packing import Sample, plan_batches
from tunesmith.training.checkpoint import load_checkpoint, save_checkpoint
from tunesmith.training.data import Splits, build_splits, write_rejects
from tunesmith.training.distill import Distiller, check_distill, describe, student_config
from tunesmith.training.distributed import (
    Ranks,
    check_launch,
    make_accelerator,
    process_group_kwargs,
)
from tunesmith.training.evaluate import evaluate
from tunesmith.training.fsdp import shard_model
from tunesmith.training.logging import MetricsLogger, plot_loss_curve
from tunesmith.training.loss import accumulate_gradients
from tunesmith.training.optim import build_optimizer, build_scheduler
from tunesmith.training.output import adapter_base_dir, save_final
from tunesmith.training.progress import TrainProgress
from tunesmith.training.run_dir import (
    checkpoints_dir,
    clear_outputs,
    finished_run,
    plan_run_dir,
)
from tunesmith.training.state import TrainState


def check_training_config(cfg: Config) -> None:
    """Checks that need neither weights nor data (the --nproc launcher makes them too)."""
    if cfg.train.precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.precision: fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    check_launch(cfg.distributed)
    check_distill(cfg)
    check_method_before_load(student_config(cfg))


class BatchStream:
    """Micro-batches in a fixed order per (seed, epoch); its position is part of TrainState."""

    def __init__(self, samples: list[Sample], cfg: Config, pad_id: int) -> None:
        self.samples, self.cfg, self.pad_id = samples, cfg, pad_id

    def plan(self, epoch: int) -> list[list[int]]:
        t, d = self.cfg.train, self.cfg.data
        return plan_batches(
            self.samples,
            packing=d.packing,
            batch_tokens=t.batch_tokens,
            batch_size=t.batch_size,
            seed=t.seed + epoch,
        )

    def next(self, state: TrainState) -> dict[str, torch.Tensor]:
        plan = self.plan(state.epoch)
        if state.batch_in_epoch >= len(plan):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            plan = self.plan(state.epoch)
        group = [self.samples[i] for i in plan[state.batch_in_epoch]]
        state.batch_in_epoch += 1
        if self.cfg.data.packing:
            return collate_packed(group)
        return collate_padded(group, self.pad_id)


def _open_run_dir(
    cfg: Config, run_dir: Path, resume_from: Path | None, splits: Splits, group: PartialState
) -> None:
    """Once model and data checked out: rank 0 creates the run dir (cleared on a fresh start)
    and writes config.yaml and the rejects; the other ranks wait. Nothing is written before,
    so a run that fails its checks leaves no directory behind."""
    group.wait_for_everyone()
    if group.is_main_process:
        if resume_from is None:
            clear_outputs(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        write_rejects(splits, run_dir)
    group.wait_for_everyone()


def train(cfg: Config) -> Path:
    """Fine-tune as `cfg` says; return the run directory."""
    check_training_config(cfg)
    done = finished_run(cfg)
    if done is not None:  # train.resume=auto on a run that already finished
        if os.environ.get("RANK", "0") == "0":
            print(done, flush=True)
        return Path(cfg.output.dir)
    t = cfg.train
    # Each train() call configures precision afresh (a second call in one process, as from the
    # Python API or a notebook, may ask for another); the process group itself is kept.
    AcceleratorState._reset_state()
    quiet_libraries()
    group = PartialState(**process_group_kwargs(cfg.distributed))
    run_dir, resume_from = plan_run_dir(cfg)  # every rank decides alike; nothing written yet
    set_seed(t.seed)

    # -- model, data, method (the base is written, when needed, only once all input checked out)
    model, tok = load_model_and_tokenizer(cfg.model, seed=t.seed, quantize=_quantization(cfg))
    if t.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    method = student_config(cfg).method  # method.name=distill: the student's own method
    check_method(model, method, tok)  # fail on a wrong name before writing anything
    distiller = Distiller.from_config(cfg, tok) if cfg.method.name == "distill" else None
    router = RouterAuxLoss(model)
    if t.router_aux_loss_coef and not router:
        raise ConfigError(
            "train.router_aux_loss_coef: this model has no MoE router (DeepSeek-V3 / V2 MoE "
            "layers have one); set it to 0"
        )
    splits = build_splits(cfg.data, tok, seed=t.seed)
    _open_run_dir(cfg, run_dir, resume_from, splits, group)
    accelerator = make_accelerator(cfg, run_dir)
    ranks = Ranks(accelerator, cfg.distributed.strategy)
    for name, st in splits.stats.items():
        d = st.as_dict()
        ranks.print(
            f"data {name}: {d['records']:,} records -> {d['kept']:,} samples "
            f"({d['truncated']:,} truncated at data.max_len={cfg.data.max_len}, "
            f"{d['dropped_too_long']:,} dropped too long, {d['dropped_no_target']:,} without "
            f"trained tokens, {d['rejected']:,} rejected); {d['tokens']:,} tokens, "
            f"{d['target_tokens']:,} trained"
        )
    base_dir = adapter_base_dir(model, tok, student_config(cfg), run_dir, ranks)
    model = attach_method(model, method, tok)
    report = method_report(model, method)
    ranks.print(report.line())
    if distiller is not None:
        distiller.to(accelerator.device)
        d, size = cfg.method.distill, sum(p.numel() for p in distiller.teacher.parameters())
        ranks.print(
            f"distill: frozen teacher {d.teacher} ({size:,} params), alpha={d.alpha:g}, "
            f"temperature={d.temperature:g}"
        )
    if ranks.world > 1:
        ranks.print(
            f"distributed: {cfg.distributed.strategy} on {ranks.world} processes, global batch "
            f"= {t.grad_accum} x {ranks.world} micro-batches"
        )

    stream = BatchStream(splits.train, cfg, tok.pad_token_id)
    window_size = t.grad_accum * ranks.world
    micro_per_epoch = len(stream.plan(0))
    steps_per_epoch = max(1, math.ceil(micro_per_epoch / window_size))
    total_steps = t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))

    # -- optimisation
    if cfg.distributed.strategy == "fsdp":  # shard first: the optimizer holds the shards
        model = shard_model(
            model, cfg.distributed, accelerator.device, ranks.world, run_dir, ranks.is_main
        )
    optimizer = build_optimizer(model, t, lora_plus_ratio=cfg.method.lora.plus_lr_ratio)
    scheduler = build_scheduler(optimizer, t, total_steps)
    if cfg.distributed.strategy == "fsdp":
        optimizer = accelerator.prepare(optimizer)
    else:
        model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainState()
    if resume_from is not None:
        state = load_checkpoint(
            resume_from, model=model, optimizer=optimizer, scheduler=scheduler, ranks=ranks
        )
        ranks.print(f"resumed from {resume_from} at step {state.step}")
    logger = (
        MetricsLogger(run_dir, tensorboard=cfg.output.tensorboard, resume_step=state.step)
        if ranks.is_main
        else None
    )

    def run_eval() -> dict[str, float]:
        if not splits.validation:
            return {}
        # the module itself (DDP / DeepSpeed wrappers only add gradient sync); FSDP2 and
        # ZeRO-3 gather their shards inside its forward, on every rank alike
        return evaluate(
            ranks.unwrap(model),
            tok,
            splits.validation,
            splits.val_conversations,
            cfg.eval,
            t.batch_tokens,
        )

    # -- loop
    model.train()
    started = time.perf_counter()
    start_step, start_tokens = state.step, state.tokens_seen
    stopped_early = False
    with TrainProgress(total_steps, state.step, enabled=t.progress and ranks.is_main) as progress:
        while state.step < total_steps:
            step_started = time.perf_counter()
            window = [stream.next(state) for _ in range(window_size)]
            step = accumulate_gradients(
                accelerator,
                model,
                window,
                ranks=ranks,
                router=router if router else None,
                aux_coef=t.router_aux_loss_coef,
                distill=distiller,
            )
            state.tokens_seen += step.tokens
            grad_norm = _clip(accelerator, model, t.max_grad_norm)
            lr = scheduler.get_last_lr()[0]  # the rate this step trains at
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1

            elapsed = time.perf_counter() - started
            tok_per_s = (state.tokens_seen - start_tokens) / max(elapsed, 1e-9)
            record = {
                "step": state.step,
                "epoch": state.epoch,
                "loss": step.loss,
                "lr": lr,
                "grad_norm": grad_norm,
                "tokens": state.tokens_seen,
                "tokens_per_s": tok_per_s,
                "step_seconds": time.perf_counter() - step_started,
            }
            if step.aux_loss is not None:
                record["aux_loss"] = step.aux_loss
            if step.kd_loss is not None:
                record["kd_loss"] = step.kd_loss
            last = state.step == total_steps
            evals: dict[str, float] = {}
            if (t.eval_every and state.step % t.eval_every == 0) or last:
                evals = run_eval()
                record.update(evals)
                if evals:
                    state.history.append({"step": state.step, **evals})
                    improved = _track_best(state, evals, cfg)
                    if improved and t.save_best:
                        save_final(
                            model, tok, run_dir, base_dir, accelerator=accelerator, ranks=ranks,
                            dest=run_dir / "best",
                        )  # fmt: skip
                    stopped_early = bool(t.early_stopping_patience) and (
                        state.evals_without_improvement >= t.early_stopping_patience
                    )
            if logger is not None and (state.step % t.log_every == 0 or last or evals):
                logger.log(record)
            progress.update(state.step, record)
            if t.save_every and (state.step % t.save_every == 0 or last):
                save_checkpoint(
                    checkpoints_dir(run_dir),
                    model=model,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    state=state,
                    keep_last=t.keep_last,
                    ranks=ranks,
                )
            if stopped_early:
                ranks.print(
                    f"early stop at step {state.step}: no better {t.early_stopping_metric} "
                    f"in {t.early_stopping_patience} evaluations"
                )
                break

    # -- finish
    train_seconds = time.perf_counter() - started
    out_dir = save_final(model, tok, run_dir, base_dir, accelerator=accelerator, ranks=ranks)
    router.remove()
    if logger is None:
        return run_dir
    logger.close()
    if cfg.output.plot:
        plot_loss_curve(logger.records(), run_dir / "loss_curve.png")
    summary = {
        "run_dir": str(run_dir),
        "output": str(out_dir),
        "method": cfg.method.name,
        **({"distill": describe(cfg.method)} if distiller is not None else {}),
        "distributed": {"strategy": cfg.distributed.strategy, "processes": ranks.world},
        "steps": state.step,
        "total_steps": total_steps,
        "stopped_early": stopped_early,
        "train_seconds": train_seconds,
        "tokens_per_s": (state.tokens_seen - start_tokens) / max(train_seconds, 1e-9),
        "steps_this_process": state.step - start_step,
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
    (run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir


def _quantization(cfg: Config) -> object | None:
    """bitsandbytes 4-bit settings for qlora (checked to be on CUDA before we get here)."""
    if cfg.method.name != "qlora":
        return None
    from transformers import BitsAndBytesConfig

    q = cfg.method.qlora
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q.quant_type,
        bnb_4bit_use_double_quant=q.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, q.compute_dtype),
    )


def _clip(accelerator: Accelerator, model: torch.nn.Module, max_norm: float) -> float:
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        # the engine clipped (gradient_clipping) and stepped inside the last backward
        return float(accelerator.deepspeed_engine_wrapped.get_global_grad_norm() or 0.0)
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm > 0:
        return float(accelerator.clip_grad_norm_(params, max_norm))
    return float(torch.nn.utils.get_total_norm([p.grad for p in params]))


def _track_best(state: TrainState, evals: dict[str, float], cfg: Config) -> bool:
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
