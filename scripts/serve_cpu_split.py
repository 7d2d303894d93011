# Run: .venv/bin/python scripts/serve_cpu_split.py [--compile-buckets 1 2 4 8 16 32]
"""Where the CPU goes when `tunesmith serve` answers C concurrent streams (the profile behind
docs/benchmarks.md "Serving"): the bench's HTTP workload at concurrency C against a server
with its engine core in its own process, and the CPU seconds each process used (the client,
the HTTP server, the engine core), beside the engine alone (`Engine.generate`, same prompts,
no HTTP) and transformers' `generate_batch` on the same prompts, all at 1 torch thread.
"""

from __future__ import annotations

import argparse
import time

import psutil
import torch


def cpu_seconds(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny-qwen2")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--requests", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--compile-buckets", type=int, nargs="*", default=[])
    args = ap.parse_args()

    from tunesmith.bench.serve import _free_port, cb_config, start_server, stop_server
    from tunesmith.bench.serve_arms import run_generate_batch, run_http
    from tunesmith.bench.serve_workload import demo_prompts, make_workload
    from tunesmith.config.schema import ModelConfig
    from tunesmith.inference import Engine, SamplingParams
    from tunesmith.models.load import load_model_and_tokenizer

    torch.set_num_threads(1)
    hf, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path=args.model, attn_implementation="sdpa")
    )
    hf.eval()
    pool = demo_prompts(tok, 64, seed=0)
    wl = make_workload(pool, args.requests, args.concurrency, args.max_tokens, 8.0, 0)
    tokens = args.requests * args.max_tokens
    extra = ("--engine-process",) + (
        ("--compile-buckets", *map(str, args.compile_buckets)) if args.compile_buckets else ()
    )
    port = _free_port()
    server = start_server(args.model, 1, port, extra)
    try:
        me, srv = psutil.Process(), psutil.Process(server.pid)
        procs = {"client (bench)": me, "HTTP server": srv}
        for i, child in enumerate(srv.children(recursive=True)):
            procs[f"engine core{'' if i == 0 else f' {i}'}"] = child
        before = {k: cpu_seconds(p) for k, p in procs.items()}
        start = time.perf_counter()
        records = run_http(f"http://127.0.0.1:{port}", args.model, wl)
        wall = time.perf_counter() - start
        used = {k: cpu_seconds(p) - before[k] for k, p in procs.items()}
    finally:
        stop_server(server)
    errors = sum(r.error is not None for r in records)
    print(
        f"HTTP, C={args.concurrency}: {tokens / wall:,.0f} output tokens/s, {wall:.1f} s, {errors} errors"
    )
    for name, sec in used.items():
        print(f"  {name:<16} {sec:6.1f} CPU s  ({100 * sec / wall:3.0f}% of one core)")
    print(
        f"  total            {sum(used.values()):6.1f} CPU s of {2 * wall:.1f} available on 2 cores"
    )

    params = SamplingParams(max_tokens=args.max_tokens, temperature=0.0)
    engine = Engine(hf, max_batch=32, token_budget=512, compile_buckets=tuple(args.compile_buckets))
    prompts = wl.prompts
    start, cpu0 = time.perf_counter(), cpu_seconds(psutil.Process())
    outs = engine.generate(prompts, params)
    wall = time.perf_counter() - start
    n = sum(len(o.token_ids) for o in outs)
    print(
        f"engine alone, all {len(prompts)} queued: {n / wall:,.0f} output tokens/s "
        f"({wall:.1f} s, {cpu_seconds(psutil.Process()) - cpu0:.1f} CPU s)"
    )
    config = cb_config(args.max_tokens, max(map(len, prompts)))
    start = time.perf_counter()
    recs = run_generate_batch(hf, wl, config)
    wall = time.perf_counter() - start
    print(
        f"generate_batch (same Poisson workload): {tokens / wall:,.0f} output tokens/s "
        f"({sum(r.error is not None for r in recs)} errors)"
    )


if __name__ == "__main__":
    main()
