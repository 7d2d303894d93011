"""The setup pieces every recipe shares, in the order a recipe calls them:

    run = start(cfg)                                  checks, process group, run dir, seed
    model, tok = load_model(cfg)                      model + tokenizer, the method's checks
    splits = load_data(cfg, tok, run)                 train / validation samples; run dir opens
    engine = make_engine(cfg, run)                    accelerator (DDP / DeepSpeed / FSDP) + ranks
    report_data(cfg, splits, engine)                  counts printed
    model, base_dir = attach(model, tok, cfg, run, engine)   the method (LoRA, full, ...)
    impl = loss_impl(model, cfg, engine)              train.loss_impl: chunked / plain / liger
    opt = optimization(model, cfg, run, engine, total_steps) optimizer + schedule, prepared
    state = resume(run, opt, engine)                  weights, optimizer, RNG, data position

A recipe that needs more (a teacher, a reference model, rollouts) loads it between these
calls; each piece takes only what it uses, so a recipe can replace one without the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from accelerate.state import AcceleratorState
from accelerate.utils import set_seed
from transformers import PreTrainedTokenizerBase

from tunesmith.adapters.peft_setup import attach_method, check_method, check_method_before_load
from tunesmith.adapters.report import MethodReport, method_report
from tunesmith.config.load import save_config
from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError
from tunesmith.log import quiet_libraries
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.models.moe import RouterAuxLoss
from tunesmith.training.checkpoint import load_checkpoint
from tunesmith.training.data import Splits, build_splits, write_rejects
from tunesmith.training.distributed import (
    Ranks,
    check_launch,
    make_accelerator,
    process_group_kwargs,
)
from tunesmith.training.evaluate import evaluate
from tunesmith.training.fsdp import shard_model
from tunesmith.training.loss_head import resolve_loss_impl
from tunesmith.training.offload import check_offload, offload_notice
from tunesmith.training.optim import build_optimizer, build_scheduler
from tunesmith.training.output import adapter_base_dir, save_final
from tunesmith.training.precision import Fp32MasterAdamW, check_precision, to_bf16
from tunesmith.training.run_dir import clear_outputs, plan_run_dir
from tunesmith.training.state import TrainState
from tunesmith.training.streaming import check_streaming
from tunesmith.training.trackers import check_trackers, report_to


@dataclass
class Run:
    """The run directory and where it resumes from (None: a fresh start)."""

    cfg: Config
    dir: Path
    resume_from: Path | None
    group: PartialState


@dataclass
class Engine:
    """The distributed engine: accelerate's Accelerator and this process's place in it."""

    accelerator: Accelerator
    ranks: Ranks

    @property
    def device(self) -> torch.device:
        return self.accelerator.device


@dataclass
class Optimization:
    """The prepared (wrapped, sharded) model with its optimizer and schedule."""

    model: torch.nn.Module
    optimizer: Any
    scheduler: Any
    total_steps: int


NEFTUNE_RECIPES = ("sft", "distill")


def check(cfg: Config) -> None:
    """Settings every recipe needs right, before anything loads."""
    if cfg.train.precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.precision: fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    check_launch(cfg.distributed)
    check_method_before_load(cfg)
    check_precision(cfg.train.precision, cfg.train.pure_bf16, cfg.distributed.strategy)
    check_offload(
        cfg.train.offload_activations, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    )
    if cfg.train.pure_bf16 and cfg.method.name == "qlora":
        raise ConfigError("train.pure_bf16: not with method qlora (its base is 4-bit already)")
    if cfg.train.neftune_alpha and cfg.recipe not in NEFTUNE_RECIPES:
        raise ConfigError(
            f"train.neftune_alpha: recipe {cfg.recipe} does not take embedding noise (its "
            f"reference or rollout forwards would see it too); NEFTune is for "
            f"{' and '.join(NEFTUNE_RECIPES)}: set train.neftune_alpha=0"
        )
    check_streaming(cfg)
    check_trackers(report_to(cfg.output))


def start(cfg: Config) -> Run:
    """Process group, the run dir and checkpoint to resume from (every rank decides alike;
    nothing is written yet: `load_data` opens the run dir once model and data checked out),
    then the seed.

    Each call configures precision afresh (a second train() in one process, as from the
    Python API or a notebook, may ask for another); the process group itself is kept.
    """
    AcceleratorState._reset_state()
    quiet_libraries()
    group = PartialState(**process_group_kwargs(cfg.distributed))
    run_dir, resume_from = plan_run_dir(cfg)
    set_seed(cfg.train.seed)
    return Run(cfg, run_dir, resume_from, group)


def open_run_dir(run: Run, splits: Splits | None = None) -> None:
    """Once model and data checked out: rank 0 creates the run dir (cleared on a fresh start)
    and writes config.yaml and the rejects of `splits`; the other ranks wait. A run that fails its checks leaves no directory behind."""
    group = run.group
    group.wait_for_everyone()
    if group.is_main_process:
        if run.resume_from is None:
            clear_outputs(run.dir)
        run.dir.mkdir(parents=True, exist_ok=True)
        save_config(run.cfg, run.dir / "config.yaml")
        if splits is not None:
            write_rejects(splits, run.dir)
    group.wait_for_everyone()


def load_model(cfg: Config) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """The model section's model and tokenizer; a wrong method setting fails here, before
    anything is written (the base is written, when needed, only once all input checked out)."""
    model, tok = load_model_and_tokenizer(cfg.model, seed=cfg.train.seed, quantize=_qlora(cfg))
    if cfg.train.pure_bf16:
        model = to_bf16(model)
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    check_method(model, cfg.method, tok)
    return model, tok


def router_loss(model: torch.nn.Module, cfg: Config) -> RouterAuxLoss:
    """The MoE load-balancing term (empty for a model without routers)."""
    router = RouterAuxLoss(model)
    if cfg.train.router_aux_loss_coef and not router:
        raise ConfigError(
            "train.router_aux_loss_coef: this model has no MoE router (DeepSeek-V3 / V2 MoE "
            "layers have one); set it to 0"
        )
    return router


def make_engine(cfg: Config, run: Run) -> Engine:
    accelerator = make_accelerator(cfg, run.dir)
    engine = Engine(accelerator, Ranks(accelerator, cfg.distributed.strategy))
    notice = offload_notice(cfg.train.offload_activations, cfg.train.gradient_checkpointing)
    if notice:
        engine.ranks.print(f"note: {notice}")
    return engine


def loss_impl(model: torch.nn.Module, cfg: Config, engine: Engine) -> str:
    """train.loss_impl resolved for this model (after its method) and device; printed."""
    d = cfg.distributed
    sharded = (
        "fsdp"
        if d.strategy == "fsdp"
        else "deepspeed zero_stage 3"
        if d.strategy == "deepspeed" and d.zero_stage == 3
        else None
    )
    impl = resolve_loss_impl(cfg.train.loss_impl, model, engine.device, sharded)
    if impl != cfg.train.loss_impl:
        engine.ranks.print(f"loss: train.loss_impl={cfg.train.loss_impl} -> {impl}")
    return impl


def load_data(cfg: Config, tok: PreTrainedTokenizerBase, run: Run) -> Splits:
    """Train / validation samples of the chat-template format; then the run dir opens."""
    splits = build_splits(cfg.data, tok, seed=cfg.train.seed)
    open_run_dir(run, splits)
    return splits


def report_data(cfg: Config, splits: Splits, engine: Engine) -> None:
    """One line per split: records in, samples kept, and why the others were not."""
    for name, st in splits.stats.items():
        d = st.as_dict()
        if name == "train" and cfg.data.streaming:
            engine.ranks.print(
                f"data train: streaming {', '.join(cfg.data.train)} (shuffle buffer "
                f"{cfg.data.shuffle_buffer:,}, {cfg.train.max_steps:,} steps); counts in "
                "train_summary.json at the end"
            )
            continue
        if name != "train" and not d["records"] and not d["rejected"]:
            continue  # no such split: nothing to report
        engine.ranks.print(
            f"data {name}: {d['records']:,} records -> {d['kept']:,} samples "
            f"({d['truncated']:,} truncated at data.max_len={cfg.data.max_len}, "
            f"{d['dropped_too_long']:,} dropped too long, {d['dropped_no_target']:,} without "
            f"trained tokens, {d['rejected']:,} rejected); {d['tokens']:,} tokens, "
            f"{d['target_tokens']:,} trained"
        )


def attach(
    model: torch.nn.Module, tok: PreTrainedTokenizerBase, cfg: Config, run: Run, engine: Engine
) -> tuple[torch.nn.Module, str | None, MethodReport]:
    """The method on the model; the base an adapter points at (written for a random preset)."""
    base_dir = adapter_base_dir(model, tok, cfg, run.dir, engine.ranks)
    model = attach_method(model, cfg.method, tok)
    report = method_report(model, cfg.method)
    engine.ranks.print(report.line())
    return model, base_dir, report


def describe_engine(cfg: Config, engine: Engine) -> None:
    ranks = engine.ranks
    if ranks.world > 1:
        ranks.print(
            f"distributed: {cfg.distributed.strategy} on {ranks.world} processes, global batch "
            f"= {cfg.train.grad_accum} x {ranks.world} micro-batches"
        )


def optimization(
    model: torch.nn.Module, cfg: Config, run: Run, engine: Engine, total_steps: int
) -> Optimization:
    """AdamW + schedule over the trainable parameters; the engine wraps or shards them."""
    t, accelerator, ranks = cfg.train, engine.accelerator, engine.ranks
    if cfg.distributed.strategy == "fsdp":  # shard first: the optimizer holds the shards
        model = shard_model(
            model, cfg.distributed, accelerator.device, ranks.world, run.dir, ranks.is_main
        )
    optimizer = build_optimizer(model, t, lora_plus_ratio=cfg.method.lora.plus_lr_ratio)
    if t.pure_bf16:  # fp32 masters of the bf16 trainable weights, in the optimizer
        optimizer = Fp32MasterAdamW.like(optimizer)
    scheduler = build_scheduler(optimizer, t, total_steps)
    if cfg.distributed.strategy == "fsdp":
        optimizer = accelerator.prepare(optimizer)
    else:
        model, optimizer = accelerator.prepare(model, optimizer)
    return Optimization(model, optimizer, scheduler, total_steps)


def resume(run: Run, opt: Optimization, engine: Engine) -> TrainState:
    """A fresh state, or weights, optimizer, schedule, RNG and position from the checkpoint."""
    if run.resume_from is None:
        return TrainState()
    state = load_checkpoint(
        run.resume_from,
        model=opt.model,
        optimizer=opt.optimizer,
        scheduler=opt.scheduler,
        ranks=engine.ranks,
    )
    engine.ranks.print(f"resumed from {run.resume_from} at step {state.step}")
    return state


def evaluator(
    cfg: Config, tok: PreTrainedTokenizerBase, splits: Splits, engine: Engine, opt: Optimization
) -> Callable[[], dict[str, float]]:
    """The validation metrics of eval.metrics, as the loop calls them ({} without validation)."""

    def run_eval() -> dict[str, float]:
        if not splits.validation:
            return {}
        # the module itself (DDP / DeepSpeed wrappers only add gradient sync); FSDP2 and
        # ZeRO-3 gather their shards inside its forward, on every rank alike
        return evaluate(
            engine.ranks.unwrap(opt.model),
            tok,
            splits.validation,
            splits.val_conversations,
            cfg.eval,
            cfg.train.batch_tokens,
        )

    return run_eval


def best_saver(
    tok: PreTrainedTokenizerBase, run: Run, base_dir: str | None, engine: Engine, opt: Optimization
) -> Callable[[Path], Path]:
    """Writes the current weights as the final output would be written, into `dest` (best/)."""

    def save(dest: Path) -> Path:
        return save_final(
            opt.model, tok, run.dir, base_dir, accelerator=engine.accelerator,
            ranks=engine.ranks, dest=dest,
        )  # fmt: skip

    return save


def _qlora(cfg: Config) -> object | None:
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
