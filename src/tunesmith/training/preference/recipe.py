"""recipe=preference: DPO and its family on preference pairs (KTO on unpaired records), with
any method; config in, run dir out. Settings in the `preference` section (docs/preference.md).

setup      checks, run dir, seed, model, data (preference formats), engine
reference  adapter methods: none to load (the adapter is disabled for the reference pass);
           full / freeze: log-probs under the initial weights, computed once into the run
           dir (resume reads them); copy on request; orpo / simpo / cpo: nothing
           method, optimizer, schedule; resume: weights, optimizer, RNG and data position
loop       grad_accum packed micro-batches of chosen + rejected -> one pair-weighted step
finish     adapter or model as sft writes it, metrics, loss and reward curves, summary
"""

from __future__ import annotations

from pathlib import Path

from tunesmith.config.schema import Config
from tunesmith.errors import ConfigError
from tunesmith.training import setup
from tunesmith.training.finish import finish
from tunesmith.training.preference.data import ItemStream, describe_counts, load_splits
from tunesmith.training.preference.objective import PreferenceObjective, beta_of, evaluate_items
from tunesmith.training.preference.plots import plot_preference
from tunesmith.training.preference.reference import Reference, choose_mode
from tunesmith.training.steps import StepLoop


def check_preference(cfg: Config) -> str:
    """Settings that need no weights; returns the reference mode."""
    p = cfg.preference
    if p.loss == "robust" and not 0 < p.label_smoothing < 0.5:
        raise ConfigError(
            "preference.label_smoothing: robust DPO needs the label flip rate, 0 < e < 0.5 "
            "(e.g. 0.1); with e = 0 use loss dpo"
        )
    if p.loss == "kto" and cfg.data.packing is False and cfg.train.batch_size < 2:
        raise ConfigError("train.batch_size: kto estimates its KL term per micro-batch; use 2+")
    return choose_mode(p.reference, p.loss, cfg.method.name)


def train(cfg: Config) -> Path:
    """Preference-tune as `cfg` says; return the run directory."""
    setup.check(cfg)
    mode = check_preference(cfg)
    run = setup.start(cfg)
    model, tok = setup.load_model(cfg)
    router = setup.router_loss(model, cfg)
    splits = load_splits(cfg, tok)
    setup.open_run_dir(run)  # the data checked out: now the run dir is written
    engine = setup.make_engine(cfg, run)
    ranks = engine.ranks
    for name, st in splits.stats.items():
        ranks.print(describe_counts(name, st, cfg.data.max_len))

    reference = Reference(mode)
    if mode == "copy":
        reference.keep_copy(model)
        reference.frozen.to(engine.device)
    if mode == "cached":  # the initial weights, before the method changes anything
        model.to(engine.device)
        reference.fill_cache(
            model, {"train": splits.train, "validation": splits.validation}, run.dir,
            cfg.train.batch_tokens, rank=ranks.rank, world=ranks.world,
            autocast=engine.accelerator.autocast, say=ranks.print,
        )  # fmt: skip
    model, base_dir, report = setup.attach(model, tok, cfg, run, engine)
    p = cfg.preference
    ranks.print(f"preference: loss {p.loss}, beta {beta_of(p):g}, reference {mode}")
    setup.describe_engine(cfg, engine)

    stream = ItemStream(splits.train, cfg, tok.pad_token_id)
    held_out = ItemStream(splits.validation, cfg, tok.pad_token_id).all_batches()
    window = cfg.train.grad_accum * ranks.world
    opt = setup.optimization(model, cfg, run, engine, stream.total_steps(window))
    state = setup.resume(run, opt, engine)
    objective = PreferenceObjective(p, reference, ranks)

    def run_eval() -> dict[str, float]:
        if not held_out:
            return {}
        module = ranks.unwrap(opt.model)
        return evaluate_items(module, objective, held_out, engine.accelerator.autocast)

    loop = StepLoop(
        cfg, run, engine, opt, state,
        evaluate=run_eval, save_best=setup.best_saver(tok, run, base_dir, engine, opt),
    )  # fmt: skip

    def next_window() -> list:
        batches = stream.window(state, window)
        objective.prepare(ranks.local(batches))  # KTO's KL estimate, reference log-probs
        return batches

    loop.fit(next_window, objective, router=router)
    router.remove()
    out = finish(
        cfg, loop, opt.model, tok, base_dir, engine=engine, report=report, splits=splits,
        recipe={**p.__dict__, "beta": beta_of(p), "reference": mode},
    )  # fmt: skip
    if ranks.is_main and cfg.output.plot:
        plot_preference(run.dir / "metrics.jsonl", run.dir / "preference_curves.png")
    return out
