"""`tunesmith bench serve`: the tunesmith server against transformers' own serving paths.

    tunesmith bench serve --json bench_serve.json

One run, one model, the same prompts (token ids), greedy, exactly `max_tokens` output tokens
each, Poisson arrivals with at most C requests in flight, at each concurrency C:

- tunesmith: `tunesmith serve` in a subprocess (uvicorn), driven over HTTP with streaming;
- generate_batch: transformers' continuous batching (the manager behind `generate_batch`),
  in this process, sized like our server (token budget, batch size);
- sequential: `model.generate`, one request at a time, in this process.

Reported per arm: aggregate output tokens/s, TTFT, inter-token and end-to-end latency p50 /
p99, errors; per C: the speedups and how many outputs equal the sequential arm's.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from tunesmith.config.bench_settings import SERVE_CONCURRENCY, SERVE_MODEL, SERVE_REQUESTS

ARMS = ("tunesmith", "generate_batch", "sequential")
# the defaults of `bench serve`'s schema (config/bench_settings.py). The model is a dense
# preset: transformers' continuous batching cannot run DeepSeek-V3's MLA (its paged cache has
# one head dim for keys and values, MLA's differ)
DEFAULT_MODEL = SERVE_MODEL
DEFAULT_CONCURRENCY = SERVE_CONCURRENCY
DEFAULT_REQUESTS = SERVE_REQUESTS
MAX_BATCH, TOKEN_BUDGET = 32, 512


def start_server(
    model: str, threads: int, port: int, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`tunesmith serve` (with `extra` flags) in a subprocess; returns once /ready answers."""
    import httpx

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    cmd = [
        *(sys.executable, "-m", "tunesmith.cli.main", "--log-level", "warning"),
        *("serve", "--model", model, "--port", str(port), "--threads", str(threads)),
        *("--log-level", "warning", "--max-batch", str(MAX_BATCH)),
        *("--token-budget", str(TOKEN_BUDGET)),
        *extra,
    ]
    # a file, not a pipe: nobody reads the server's log while it runs, and a full pipe would
    # block the server's next log line (and with it every request). The server keeps its own
    # handle on the (unlinked) file once ours is closed.
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"tunesmith serve exited with {proc.returncode}: {_tail(log_file)}"
                )
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError("tunesmith serve was not ready within 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log_file: IO[bytes]) -> str:
    """The end of the server's log."""
    log_file.seek(0)
    return log_file.read().decode(errors="replace")[-2000:]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cb_config(max_tokens: int, longest_prompt: int) -> object:
    """generate_batch's settings: our server's batch size and token budget, and a cache
    sized for a full batch (its defaults size for a GPU: 10x slower on this CPU)."""
    from transformers.generation.configuration_utils import ContinuousBatchingConfig

    page = 256
    pages_per_request = -(-(longest_prompt + max_tokens) // page)
    return ContinuousBatchingConfig(
        page_size=page,
        num_blocks=MAX_BATCH * pages_per_request + 4,
        max_batch_tokens=TOKEN_BUDGET,
        max_requests_per_batch=MAX_BATCH,
        allow_block_sharing=False,
        use_cuda_graph=False,
    )


def run_bench(
    json_path: str | None = None,
    *,
    model: str = DEFAULT_MODEL,
    concurrency: tuple[int, ...] = DEFAULT_CONCURRENCY,
    requests: tuple[int, ...] = DEFAULT_REQUESTS,
    max_tokens: int = 64,
    rate_per_slot: float = 8.0,
    threads: int = 1,
    seed: int = 0,
    quiet: bool = False,
    engine_process: bool = False,
    compile_buckets: tuple[int, ...] = (),
    prefix_len: int = 256,
    prefix_prompts: int = 4,
    prefix_samples: int = 8,
) -> dict:
    """Run every arm at every concurrency; print the tables, return (and write) the report.

    `engine_process` / `compile_buckets` are passed to the server (`--engine-process`,
    `--compile-buckets`); the engine-alone arms (`serve_engine`) follow: single stream,
    the shared-prefix workload (`prefix_len` 0 skips it), KV bytes per token for MLA."""
    import torch
    from rich.console import Console

    from tunesmith.bench.serve_engine import print_engine_report
    from tunesmith.bench.serve_report import print_report
    from tunesmith.bench.serve_workload import demo_prompts, make_workload
    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    if len(requests) != len(concurrency):
        raise ValueError(f"requests needs one count per concurrency level {list(concurrency)}")
    console = Console(quiet=quiet)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = ModelConfig(name_or_path=model, attn_implementation="sdpa")
        hf, tok = load_model_and_tokenizer(cfg)
        hf.eval()
        pool = demo_prompts(tok, 64, seed=seed)
        workloads = [
            make_workload(pool, n, c, max_tokens, rate_per_slot, seed)
            for c, n in zip(concurrency, requests, strict=True)
        ]
        console.print(
            f"bench serve: {model}, {max_tokens} output tokens per request; requests: "
            + ", ".join(f"{wl.concurrency}: {len(wl.prompts)}" for wl in workloads)
            + f" (concurrency: count); Poisson arrivals at {rate_per_slot:g}/s per slot; "
            f"{threads} torch thread(s) per arm"
        )
        extra = (("--engine-process",) if engine_process else ()) + (
            ("--compile-buckets", *map(str, compile_buckets)) if compile_buckets else ()
        )
        runs = _measure(hf, model, workloads, threads, console, extra)
        engine_report = _engine_arms(
            hf, tok, pool, max_tokens, compile_buckets, (prefix_len, prefix_prompts, prefix_samples)
        )
    finally:
        torch.set_num_threads(threads_before)
    report = build_report(runs, tok)
    report["engine"] = engine_report
    report["settings"] = {
        "model": model,
        "max_tokens": max_tokens,
        "prompt_tokens_mean": round(sum(map(len, pool)) / len(pool), 1),
        "requests": {str(wl.concurrency): len(wl.prompts) for wl in workloads},
        "arrival_rate_per_s": {str(c): rate_per_slot * c for c in concurrency},
        "server": {
            "max_batch": MAX_BATCH,
            "token_budget": TOKEN_BUDGET,
            "engine_process": engine_process,
            "compile_buckets": list(compile_buckets),
        },
        "torch_threads": threads,
        "seed": seed,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    print_report(report, console)
    print_engine_report(engine_report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    return report


def _engine_arms(hf, tok, pool, max_tokens, compile_buckets, prefix) -> dict:  # noqa: ANN001
    """The engine-alone arms (see `serve_engine`), and llama.cpp's single stream."""
    from tunesmith.bench.serve_engine import (
        kv_bytes_report,
        llama_cpp_stream,
        shared_prefix,
        single_stream,
    )

    prefix_len, prompts, samples = prefix
    report = {"single_stream": single_stream(hf, pool[0], max_tokens, compile_buckets)}
    report["single_stream"]["llama.cpp f16"] = llama_cpp_stream(hf, tok, pool[0], max_tokens)
    if prefix_len > 0:
        report["shared_prefix"] = shared_prefix(hf, pool, max_tokens, prefix_len, prompts, samples)
    report["kv_bytes_per_token"] = kv_bytes_report(hf.config)
    return report


def _measure(hf, model: str, workloads: list, threads: int, console, extra=()) -> dict[str, dict]:  # noqa: ANN001
    """{concurrency: {arm: records}}: the server first (alone), then the in-process arms."""
    from tunesmith.bench.serve_arms import run_generate_batch, run_http, run_sequential
    from tunesmith.progress import status

    runs: dict[str, dict] = {str(wl.concurrency): {} for wl in workloads}
    port = _free_port()
    with status("bench serve: starting tunesmith serve", console):
        server = start_server(model, threads, port, extra)
    try:
        for wl in workloads:
            with status(f"bench serve: tunesmith, concurrency {wl.concurrency}", console):
                url = f"http://127.0.0.1:{port}"
                runs[str(wl.concurrency)]["tunesmith"] = run_http(url, model, wl)
    finally:
        stop_server(server)
    longest = max(len(p) for wl in workloads for p in wl.prompts)
    config = cb_config(workloads[0].max_tokens, longest)
    for wl in workloads:
        c = str(wl.concurrency)
        with status(f"bench serve: generate_batch, concurrency {c}", console):
            runs[c]["generate_batch"] = run_generate_batch(hf, wl, config)
        with status(f"bench serve: sequential, concurrency {c}", console):
            runs[c]["sequential"] = run_sequential(hf, wl)
    return runs


def build_report(runs: dict[str, dict], tok) -> dict:  # noqa: ANN001
    """Per concurrency: each arm's summary, the speedups, outputs equal to sequential's."""
    from tunesmith.bench.serve_report import ratios
    from tunesmith.bench.serve_workload import same_outputs, summarize

    report: dict = {"concurrency": {}}
    for c, arms in runs.items():
        entry = {arm: summarize(arms[arm]) for arm in ARMS}
        entry.update(ratios(entry))
        entry["same_output_as_sequential"] = {
            arm: same_outputs(arms[arm], arms["sequential"], tok)
            for arm in ("tunesmith", "generate_batch")
        }
        report["concurrency"][c] = entry
    return report
