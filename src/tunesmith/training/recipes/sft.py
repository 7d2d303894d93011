"""recipe=sft: supervised fine-tuning on the labels (next-token cross-entropy on the trained
tokens), with any method (LoRA, DoRA, QLoRA, prefix, freeze, full). Config in, run dir out.

setup      checks, run dir, seed, model + method, data, engine, optimizer, schedule
resume     weights, optimizer, schedule, RNG and data position from a checkpoint
loop       grad_accum micro-batches -> one token-weighted step -> log / eval / save
finish     adapter or full model + tokenizer, metrics, loss curve, summary
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.training import setup
from tunesmith.training.batches import train_batches
from tunesmith.training.finish import finish
from tunesmith.training.loss import CrossEntropy
from tunesmith.training.steps import StepLoop


def train(cfg: Config) -> Path:
    """Fine-tune on the labels as `cfg` says; return the run directory."""
    setup.check(cfg)
    run = setup.start(cfg)
    model, tok = setup.load_model(cfg)
    router = setup.router_loss(model, cfg)
    splits = setup.load_data(cfg, tok, run)
    engine = setup.make_engine(cfg, run)
    setup.report_data(cfg, splits, engine)
    model, base_dir, report = setup.attach(model, tok, cfg, run, engine)
    setup.describe_engine(cfg, engine)

    stream = train_batches(
        cfg, splits.train, splits.stats["train"], tok, run.dir, engine.ranks.is_main
    )
    window = cfg.train.grad_accum * engine.ranks.world
    opt = setup.optimization(model, cfg, run, engine, stream.total_steps(window))
    state = setup.resume(run, opt, engine)
    objective = CrossEntropy(setup.loss_impl(model, cfg, engine), cfg.train.loss_chunk_tokens)

    loop = StepLoop(
        cfg, run, engine, opt, state,
        evaluate=setup.evaluator(cfg, tok, splits, engine, opt),
        save_best=setup.best_saver(tok, run, base_dir, engine, opt),
    )  # fmt: skip
    loop.fit(lambda: stream.window(state, window), objective, router=router)
    router.remove()
    return finish(cfg, loop, opt.model, tok, base_dir, engine=engine, report=report, splits=splits)
