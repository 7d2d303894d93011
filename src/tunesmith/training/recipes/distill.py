"""recipe=distill: the student (the model section, trained with method.name) learns from a
frozen teacher's next-token distributions as well as from the labels
(alpha * T^2 * KL + (1 - alpha) * CE per target token; training/distill.py).

setup      checks, run dir, seed, student + method, the teacher, data, engine, optimizer
resume     weights, optimizer, schedule, RNG and data position from a checkpoint
loop       grad_accum micro-batches -> student and teacher forwards -> one step -> log / eval
finish     the student as sft writes it, plus the distill section in the summary
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.training import setup
from tunesmith.training.batches import train_batches
from tunesmith.training.distill import Distiller, check_distill, describe
from tunesmith.training.finish import finish
from tunesmith.training.loss_head import resolve_for_teacher
from tunesmith.training.steps import StepLoop


def train(cfg: Config) -> Path:
    """Distil the teacher into the student as `cfg` says; return the run directory."""
    setup.check(cfg)
    check_distill(cfg)
    run = setup.start(cfg)
    model, tok = setup.load_model(cfg)
    distiller = Distiller.from_config(cfg, tok)  # frozen, eval mode, same vocabulary
    router = setup.router_loss(model, cfg)
    splits = setup.load_data(cfg, tok, run)
    engine = setup.make_engine(cfg, run)
    setup.report_data(cfg, splits, engine)
    model, base_dir, report = setup.attach(model, tok, cfg, run, engine)
    distiller.to(engine.device)
    distiller.impl = resolve_for_teacher(
        setup.loss_impl(model, cfg, engine), cfg.train.loss_impl, distiller.teacher
    )
    distiller.chunk = cfg.train.loss_chunk_tokens
    d, size = cfg.distill, sum(p.numel() for p in distiller.teacher.parameters())
    engine.ranks.print(
        f"distill: frozen teacher {d.teacher} ({size:,} params), alpha={d.alpha:g}, "
        f"temperature={d.temperature:g}"
    )
    setup.describe_engine(cfg, engine)

    stream = train_batches(
        cfg, splits.train, splits.stats["train"], tok, run.dir, engine.ranks.is_main
    )
    window = cfg.train.grad_accum * engine.ranks.world
    opt = setup.optimization(model, cfg, run, engine, stream.total_steps(window))
    state = setup.resume(run, opt, engine)

    loop = StepLoop(
        cfg, run, engine, opt, state,
        evaluate=setup.evaluator(cfg, tok, splits, engine, opt),
        save_best=setup.best_saver(tok, run, base_dir, engine, opt),
    )  # fmt: skip
    loop.fit(lambda: stream.window(state, window), distiller, router=router)
    router.remove()
    return finish(
        cfg, loop, opt.model, tok, base_dir, engine=engine, report=report, splits=splits,
        recipe=describe(cfg),
    )  # fmt: skip
