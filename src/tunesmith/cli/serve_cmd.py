"""`tunesmith serve`, `tunesmith chat`, `tunesmith generate`: the engine from the command line.

    tunesmith serve --model tiny-deepseek-v3-base --port 8000 --adapter sql=runs/sql
    tunesmith chat --model runs/demo/run
    tunesmith generate --model runs/demo/run --input prompts.jsonl --output out.jsonl
    tunesmith bench serve --json bench_serve.json

Library imports happen inside the functions, so `tunesmith --help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from tunesmith.errors import ConfigError

if TYPE_CHECKING:  # heavy imports happen inside the functions
    from transformers import PreTrainedTokenizerBase

    from tunesmith.inference import Engine, SamplingParams


def serve(args: argparse.Namespace) -> int:
    api_key = args.api_key or os.environ.get("TUNESMITH_API_KEY") or None
    name = args.served_model_name or args.model.rstrip("/")
    if args.backend == "vllm":
        from tunesmith.serve.vllm_backend import check_vllm, vllm_command

        check_vllm()
        cmd = vllm_command(
            args.model,
            args.adapter or [],
            served_name=name,
            host=args.host,
            port=args.port,
            api_key=api_key,
            max_batch=args.max_batch,
            max_model_len=args.max_model_len,
        )
        os.execvp(cmd[0], cmd)
    check_port(args.host, args.port)  # before the model loads: a busy port fails at once
    if args.engine_process:
        from tunesmith.inference.process_engine import start_core

        front, tok, names = start_core(args)
    else:
        engine, tok, names = _load(args)
        from tunesmith.inference.async_engine import AsyncEngine

        front = AsyncEngine(engine)
    from tunesmith.serve.app import serve as run_server
    from tunesmith.serve.state import ServerSettings, ServerState

    settings = ServerSettings(
        api_key=api_key,
        max_queue=args.max_queue,
        request_timeout_s=args.request_timeout or None,
        drain_seconds=args.drain_seconds,
    )
    state = ServerState(front, tok, names, settings)
    served = ", ".join(names)
    print(f"serving {served} on http://{args.host}:{args.port}/v1", file=sys.stderr, flush=True)
    run_server(state, args.host, args.port, log_level=server_log_level(args))
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

    engine, tok, names = _load(args)
    adapter = names[args.use] if args.use else next(iter(names.values()))
    chat_loop(engine, tok, _params(args, tok), adapter=adapter, system=args.system)
    return 0


def generate(args: argparse.Namespace) -> int:
    from tunesmith.serve.batch import generate_file

    engine, tok, names = _load(args)
    adapter = names[args.use] if args.use else next(iter(names.values()))
    stats = generate_file(
        engine, tok, args.input, args.output, _params(args, tok), adapter=adapter, stop=args.stop
    )
    print(stats, file=sys.stderr)
    return 0


def bench_serve(args: argparse.Namespace) -> int:
    from tunesmith.bench.serve import run_bench

    if len(args.requests) != len(args.concurrency):
        raise ConfigError(
            f"--requests needs one count per --concurrency level {args.concurrency}, "
            f"got {args.requests}"
        )
    if min(args.concurrency + args.requests + [args.max_tokens, args.threads]) < 1:
        raise ConfigError("--concurrency, --requests, --max-tokens and --threads must be >= 1")
    run_bench(
        args.json,
        model=args.model,
        concurrency=tuple(args.concurrency),
        requests=tuple(args.requests),
        max_tokens=args.max_tokens,
        rate_per_slot=args.rate,
        threads=args.threads,
        seed=args.seed,
        engine_process=args.engine_process,
        prefix_len=args.prefix_len,
        prefix_prompts=args.prefix_prompts,
        prefix_samples=args.prefix_samples,
        compile_buckets=tuple(args.compile_buckets),
    )
    return 0


def _load(
    args: argparse.Namespace,
) -> tuple[Engine, PreTrainedTokenizerBase, dict[str, str | None]]:
    for flag in ("max_batch", "token_budget", "threads"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tunesmith.inference import Engine
    from tunesmith.inference.grammar import GrammarCompiler
    from tunesmith.serve.loading import load_served

    model, tok, names = load_served(args.model, args.adapter, args.served_model_name)
    if getattr(args, "use", None) and args.use not in names:
        raise ConfigError(f"--use {args.use}: not one of the served names {list(names)}")
    engine = Engine(
        model,
        max_batch=args.max_batch,
        max_model_len=args.max_model_len,
        token_budget=args.token_budget,
        seed=getattr(args, "seed", None) or 0,
        compile_buckets=getattr(args, "compile_buckets", None) or (),
        prefix_caching=getattr(args, "prefix_caching", False),
        grammar=GrammarCompiler.from_tokenizer(tok, model.config.vocab_size),
    )
    if engine.startup_compile_s:
        print(f"engine: compiled in {engine.startup_compile_s:.1f} s", file=sys.stderr)
    return engine, tok, names


def _params(args: argparse.Namespace, tok: PreTrainedTokenizerBase) -> SamplingParams:
    from tunesmith.inference import SamplingParams

    return SamplingParams(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop_token_ids=[tok.eos_token_id] if tok.eos_token_id is not None else [],
    )


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="preset name, model directory, run directory or adapter directory",
    )
    p.add_argument(
        "--adapter",
        action="append",
        metavar="NAME=DIR",
        help="a LoRA adapter on the same base, picked by name (repeatable)",
    )
    p.add_argument("--served-model-name", help="name of the base model (default: --model)")
    p.add_argument("--max-batch", type=int, default=32, help="KV slots: sequences run together")
    p.add_argument("--max-model-len", type=int, help="prompt + output tokens per sequence")
    p.add_argument("--token-budget", type=int, default=512, help="tokens per forward pass")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument(
        "--compile-buckets", type=int, nargs="+", metavar="N",
        help="torch.compile the engine's forward for steps of up to N token rows (warmed at start)",
    )  # fmt: skip
    p.add_argument("--prefix-caching", action="store_true", help="reuse cached prompt prefixes")


def _sampling_args(p: argparse.ArgumentParser, max_tokens: int) -> None:
    p.add_argument("--use", metavar="NAME", help="served name to generate with (an adapter)")
    p.add_argument("--max-tokens", type=int, default=max_tokens, help="tokens per answer")
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass; 1: off")
    p.add_argument("--top-k", type=int, default=0, help="0: off")
    p.add_argument("--seed", type=int, help="sampling seed")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="OpenAI-compatible server with continuous batching")
    _model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY' (or TUNESMITH_API_KEY)")
    p.add_argument("--max-queue", type=int, default=64, help="waiting requests before 429")
    p.add_argument(
        "--engine-process", action="store_true",
        help="run the engine core in its own process (ZeroMQ); the server exits 1 if it dies",
    )  # fmt: skip
    p.add_argument(
        "--request-timeout", type=float, default=600.0, help="seconds per request (0: none)"
    )
    p.add_argument(
        "--drain-seconds", type=float, default=30.0, help="SIGTERM: time to finish in-flight"
    )
    p.add_argument(
        "--backend",
        choices=("tunesmith", "vllm"),
        default="tunesmith",
        help="engine: tunesmith's own, or hand off to vLLM (CUDA)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="the server's log level, uvicorn's and tunesmith's (default: the global "
        "--log-level, else info)",
    )
    p.set_defaults(command="serve")

    p = sub.add_parser("chat", help="interactive streaming chat in the terminal")
    _model_args(p)
    _sampling_args(p, max_tokens=512)
    p.add_argument("--system", help="system prompt")
    p.set_defaults(command="chat")

    p = sub.add_parser("generate", help="offline batch generation: prompts.jsonl -> out.jsonl")
    _model_args(p)
    _sampling_args(p, max_tokens=256)
    p.add_argument("--input", required=True, help="jsonl: {'prompt': str} or {'messages': [...]}")
    p.add_argument("--output", required=True, help="jsonl written in input order")
    p.add_argument("--stop", action="append", help="stop string (repeatable)")
    p.set_defaults(command="generate")


def add_bench_parser(bench_sub: argparse._SubParsersAction) -> None:
    """`tunesmith bench serve` (under main.py's `bench` group)."""
    from tunesmith.bench.serve import DEFAULT_CONCURRENCY, DEFAULT_MODEL, DEFAULT_REQUESTS

    p = bench_sub.add_parser(
        "serve", help="tunesmith server over HTTP vs transformers generate_batch vs generate"
    )
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--model", default=DEFAULT_MODEL, help="preset or model directory")
    p.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=list(DEFAULT_CONCURRENCY),
        help="requests in flight at most (one run per level)",
    )
    p.add_argument(
        "--requests",
        type=int,
        nargs="+",
        default=list(DEFAULT_REQUESTS),
        help="requests per concurrency level (one count per level)",
    )
    p.add_argument("--max-tokens", type=int, default=64, help="output tokens per request")
    p.add_argument(
        "--rate", type=float, default=8.0, help="Poisson arrivals per second per concurrency slot"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads in every arm")
    p.add_argument("--seed", type=int, default=0, help="prompt and arrival seed")
    p.add_argument("--engine-process", action="store_true", help="serve with --engine-process")
    p.add_argument(
        "--compile-buckets",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="torch.compile the engine's forward for steps of up to N token rows",
    )
    p.add_argument("--prefix-len", type=int, default=256, help="shared prefix tokens (0: skip)")
    p.add_argument("--prefix-prompts", type=int, default=4, help="shared-prefix prompts")
    p.add_argument("--prefix-samples", type=int, default=8, help="samples per prompt")
    p.set_defaults(command="bench serve")


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "serve": serve,
    "chat": chat,
    "generate": generate,
    "bench serve": bench_serve,
}
