"""`tunesmith serve`, `tunesmith chat`, `tunesmith generate`: the engine from the command line.

    tunesmith serve --model tiny-deepseek-v3-base --port 8000 --adapter sql=runs/sql
    tunesmith chat --model runs/demo/run
    tunesmith generate --model runs/demo/run --input prompts.jsonl --output out.jsonl
    tunesmith serve serve.yaml port=8080 --api-key KEY    # CONFIG.yaml + overrides + flags
    tunesmith bench serve --json bench_serve.json

Library imports happen inside the functions, so `tunesmith --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tunesmith.config.bench_settings import BenchServeSettings, check_bench_serve
from tunesmith.config.serve_settings import (
    ChatSettings,
    EngineSettings,
    GenerateSettings,
    SamplingSettings,
    ServeSettings,
)
from tunesmith.config.settings import add_settings_args, settings_from_args
from tunesmith.errors import ConfigError

if TYPE_CHECKING:  # heavy imports happen inside the functions
    from transformers import PreTrainedTokenizerBase

    from tunesmith.inference import Engine, SamplingParams


def serve(args: argparse.Namespace) -> int:
    s = settings_from_args(args)
    api_key = s.api_key or os.environ.get("TUNESMITH_API_KEY") or None
    name = s.served_model_name or s.model.rstrip("/")
    if s.backend == "vllm":
        from tunesmith.serve.vllm_backend import check_vllm, vllm_command

        check_vllm()
        cmd = vllm_command(
            s.model,
            s.adapter,
            served_name=name,
            host=s.host,
            port=s.port,
            api_key=api_key,
            max_batch=s.max_batch,
            max_model_len=s.max_model_len,
        )
        os.execvp(cmd[0], cmd)
    check_port(s.host, s.port)  # before the model loads: a busy port fails at once
    if s.engine_process:
        from tunesmith.serve.engine_process import start_core

        front, tok, names = start_core(s)
    else:
        engine, tok, names = _load(s)
        from tunesmith.inference.async_engine import AsyncEngine

        front = AsyncEngine(engine)
    from tunesmith.serve.app import serve as run_server
    from tunesmith.serve.state import ServerSettings, ServerState

    settings = ServerSettings(
        api_key=api_key,
        max_queue=s.max_queue,
        request_timeout_s=s.request_timeout or None,
        drain_seconds=s.drain_seconds,
    )
    state = ServerState(front, tok, names, settings)
    served = ", ".join(names)
    print(f"serving {served} on http://{s.host}:{s.port}/v1", file=sys.stderr, flush=True)
    level = server_log_level(
        argparse.Namespace(
            log_level=s.log_level, logging_level=getattr(args, "logging_level", None)
        )
    )
    run_server(state, s.host, s.port, log_level=level)
    return 0


def check_port(host: str, port: int) -> None:
    """ConfigError (exit 2) unless `host:port` can be listened on now. Binds the way uvicorn
    will (SO_REUSEADDR: a port in TIME_WAIT is free, one with a listener is not)."""
    import errno
    import socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in [0, 65535], got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise ConfigError(f"--host {host}: cannot resolve it ({e.strerror})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} is in use ({e.strerror} on {host}:{port}); stop what holds "
                    "it or pick another with --port"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror})") from None


def server_log_level(args: argparse.Namespace) -> str:
    """uvicorn's level: `serve --log-level`, else the global `--log-level`, else info.
    `serve --log-level` also sets tunesmith's own loggers (the access log among them), so
    one flag quiets the whole server."""
    import logging

    if args.log_level:
        logging.getLogger("tunesmith").setLevel(args.log_level.upper())
        return args.log_level
    return getattr(args, "logging_level", None) or "info"


def chat(args: argparse.Namespace) -> int:
    from tunesmith.serve.interactive import chat_loop

    s = settings_from_args(args)
    engine, tok, names = _load(s)
    adapter = names[s.use] if s.use else next(iter(names.values()))
    chat_loop(engine, tok, _params(s, tok), adapter=adapter, system=s.system)
    return 0


def generate(args: argparse.Namespace) -> int:
    from tunesmith.serve.batch import generate_file

    s = settings_from_args(args)
    engine, tok, names = _load(s)
    adapter = names[s.use] if s.use else next(iter(names.values()))
    stats = generate_file(
        engine, tok, s.input, s.output, _params(s, tok), adapter=adapter, stop=s.stop or None
    )
    print(stats, file=sys.stderr)
    return 0


def bench_serve(args: argparse.Namespace) -> int:
    from tunesmith.bench.serve import run_bench

    s = settings_from_args(args, check=check_bench_serve)
    run_bench(
        s.json,
        model=s.model,
        concurrency=tuple(s.concurrency),
        requests=tuple(s.requests),
        max_tokens=s.max_tokens,
        rate_per_slot=s.rate,
        threads=s.threads,
        seed=s.seed,
        engine_process=s.engine_process,
        prefix_len=s.prefix_len,
        prefix_prompts=s.prefix_prompts,
        prefix_samples=s.prefix_samples,
        compile_buckets=tuple(s.compile_buckets),
    )
    return 0


def _load(s: EngineSettings) -> tuple[Engine, PreTrainedTokenizerBase, dict[str, str | None]]:
    import torch

    if s.threads:
        torch.set_num_threads(s.threads)
    from tunesmith.inference import Engine
    from tunesmith.inference.grammar import GrammarCompiler
    from tunesmith.serve.loading import load_served

    model, tok, names = load_served(s.model, s.adapter or None, s.served_model_name)
    use = getattr(s, "use", None)
    if use and use not in names:
        raise ConfigError(f"--use {use}: not one of the served names {list(names)}")
    engine = Engine(
        model,
        max_batch=s.max_batch,
        max_model_len=s.max_model_len,
        token_budget=s.token_budget,
        seed=getattr(s, "seed", None) or 0,
        compile_buckets=s.compile_buckets,
        prefix_caching=s.prefix_caching,
        grammar=GrammarCompiler.from_tokenizer(tok, model.config.vocab_size),
    )
    if engine.startup_compile_s:
        print(f"engine: compiled in {engine.startup_compile_s:.1f} s", file=sys.stderr)
    return engine, tok, names


def _params(s: SamplingSettings, tok: PreTrainedTokenizerBase) -> SamplingParams:
    from tunesmith.inference import SamplingParams

    return SamplingParams(
        max_tokens=s.max_tokens,
        temperature=s.temperature,
        top_p=s.top_p,
        top_k=s.top_k,
        seed=s.seed,
        stop_token_ids=[tok.eos_token_id] if tok.eos_token_id is not None else [],
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for name, schema, text in (
        ("serve", ServeSettings, "OpenAI-compatible server with continuous batching"),
        ("chat", ChatSettings, "interactive streaming chat in the terminal"),
        ("generate", GenerateSettings, "offline batch generation: prompts.jsonl -> out.jsonl"),
    ):
        p = sub.add_parser(name, help=text)
        add_settings_args(p, schema)
        p.set_defaults(command=name)


def add_bench_parser(bench_sub: argparse._SubParsersAction) -> None:
    """`tunesmith bench serve` (under main.py's `bench` group)."""
    p = bench_sub.add_parser(
        "serve", help="tunesmith server over HTTP vs transformers generate_batch vs generate"
    )
    add_settings_args(p, BenchServeSettings)
    p.set_defaults(command="bench serve")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": serve,
    "chat": chat,
    "generate": generate,
    "bench serve": bench_serve,
}
