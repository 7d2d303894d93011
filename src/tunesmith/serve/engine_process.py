"""`tunesmith serve --engine-process`: the engine core in its own process, with the model
loaded the way the server loads it (`serve/loading.py`). The process machinery itself
(`inference/process_engine.py`, `inference/core.py`) knows nothing of models on disk: it
runs whatever engine factory it is given.

    engine = ProcessEngine(partial(build_engine, "tiny-qwen2"))
"""

from __future__ import annotations

import logging

from tunesmith.inference.process_engine import ProcessEngine
from tunesmith.serve.loading import load_served

log = logging.getLogger("tunesmith.inference.process_engine")


def build_engine(
    model: str,
    adapters: list[str] | None = None,
    served_model_name: str | None = None,
    threads: int | None = None,
    **engine_kwargs: object,
) -> object:
    """A core process's engine for `tunesmith serve --model ... --adapter ...` (picklable
    with `functools.partial`)."""
    import torch

    from tunesmith.inference.engine import Engine
    from tunesmith.inference.grammar import GrammarCompiler

    if threads:
        torch.set_num_threads(threads)
    hf, tok, _ = load_served(model, adapters, served_model_name)
    grammar = GrammarCompiler.from_tokenizer(tok, hf.config.vocab_size)
    return Engine(hf, grammar=grammar, **engine_kwargs)


def start_core(args: object) -> tuple[ProcessEngine, object, dict[str, str | None]]:
    """`tunesmith serve --engine-process`: (front end, tokenizer, served names). The
    tokenizer and the served names are resolved here (the model is loaded once in this
    process to validate the flags, then dropped); the core process loads it for itself. When
    the core dies the server process exits 1 a second later (the in-flight requests got
    their error events first; /ready answers 503 meanwhile)."""
    import gc
    import os
    import time
    from functools import partial

    model, tok, names = load_served(args.model, args.adapter, args.served_model_name)
    del model
    gc.collect()
    factory = partial(
        build_engine,
        args.model,
        args.adapter,
        args.served_model_name,
        args.threads,
        max_batch=args.max_batch,
        max_model_len=args.max_model_len,
        token_budget=args.token_budget,
        compile_buckets=args.compile_buckets or (),
        prefix_caching=args.prefix_caching,
    )

    def stop_server(exitcode: int | None) -> None:
        log.error("engine core died (exit code %s): the server exits 1", exitcode)
        time.sleep(1.0)  # let the error events reach the clients
        logging.shutdown()
        os._exit(1)  # uvicorn would re-raise a signal on exit (130 / 143), not say "failed"

    return ProcessEngine(factory, on_death=stop_server), tok, names
