"""`tunesmith bench train`: Trainer + PEFT (pad to longest) against tunesmith (packed), side by side.

    tunesmith bench train --json bench_train.json

Both arms fine-tune the same random-init preset with the same LoRA (r, alpha, dropout, target
modules), lr, cosine schedule, init seed and torch thread count, for one epoch over the same
seeded long-tailed chat records, so both see the same real tokens in about the same number of
optimizer steps. Each arm runs in its own subprocess (see `bench.arms`). Reported: real tokens
per second, padded tokens processed, peak RSS, train / held-out loss, wall time, and ratios.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tunesmith.bench.report import build_report, print_report
from tunesmith.bench.spec import ArmSpec
from tunesmith.bench.synth import LengthSpec, length_stats, make_conversations, write_jsonl
from tunesmith.tokenize.packing import pack_bins

DEFAULT_BUDGET_TOKENS = 160_000
HELDOUT_TOKENS = 12_000
ARM_ORDER = ("baseline", "tunesmith")


def match_packing(sizes: list[int], steps: int, grad_accum: int) -> int:
    """Smallest `batch_tokens` (multiple of 16) whose packed plan fits in `steps` steps."""
    lo, hi = 16, max(16, math.ceil(sum(sizes) / 16) * 16)
    while lo < hi:
        mid = (lo + hi) // 32 * 16
        if math.ceil(len(pack_bins(sizes, mid)) / grad_accum) <= steps:
            hi = mid
        else:
            lo = mid + 16
    return lo


def plan_spec(sizes: list[int], spec: ArmSpec, row_tokens: int) -> ArmSpec:
    """Set our batch_tokens / grad_accum so both arms take the same number of optimizer steps."""
    steps = math.ceil(len(sizes) / spec.batch_size)
    spec.grad_accum = max(1, round(sum(sizes) / steps / row_tokens))
    spec.batch_tokens = match_packing(sizes, steps, spec.grad_accum)
    return spec


def run_arm(arm: str, spec_path: Path, out_dir: Path, threads: int) -> dict:
    """Run one arm in a fresh interpreter; its numbers plus the subprocess wall time."""
    out = out_dir / f"{arm}.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, "-m", "tunesmith.bench.arms", str(spec_path), arm, str(out)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench arm '{arm}' failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    numbers = json.loads(out.read_text())
    numbers["process_seconds"] = time.perf_counter() - started
    return numbers


def run_bench(
    json_path: str | None = None,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    model: str = "tiny-qwen2",
    batch_size: int = 8,
    row_tokens: int = 1024,
    threads: int | None = None,
    seed: int = 42,
    heldout_tokens: int = HELDOUT_TOKENS,
    quiet: bool = False,
) -> dict:
    """Run both arms on `budget_tokens` real training tokens; print the table, return the report.

    batch_size: the baseline's samples per step; our packed rows are sized so that both arms
    take the same number of steps (about `row_tokens` tokens per micro-batch row).
    """
    from rich.console import Console

    from tunesmith.tokenize.templates import load_tokenizer

    console = Console(quiet=quiet)
    threads = threads or os.cpu_count() or 1
    lengths = LengthSpec()
    tok = load_tokenizer()
    train_convs, sizes = make_conversations(
        tok, budget_tokens=budget_tokens, seed=seed, lengths=lengths
    )
    held_convs, held_sizes = make_conversations(
        tok, budget_tokens=heldout_tokens, seed=seed + 1, lengths=lengths
    )
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        work = Path(tmp)
        spec = ArmSpec(
            train_file=str(write_jsonl(train_convs, work / "train.jsonl")),
            heldout_file=str(write_jsonl(held_convs, work / "heldout.jsonl")),
            work_dir=str(work),
            model=model,
            seed=seed,
            threads=threads,
            max_len=lengths.max_len,
            batch_size=batch_size,
        )
        spec = plan_spec(sizes, spec, row_tokens)
        spec_path = spec.save(work / "spec.json")
        arms = {}
        for arm in ARM_ORDER:
            with console.status(
                f"bench train: {arm} arm ({len(sizes)} records, {sum(sizes):,} tokens)"
            ):
                arms[arm] = run_arm(arm, spec_path, work, threads)
    settings = {
        "model": model,
        "budget_tokens": budget_tokens,
        "train_data": length_stats(sizes),
        "heldout_data": length_stats(held_sizes),
        "length_distribution": f"log-normal median {lengths.median:g} sigma {lengths.sigma:g}, "
        f"clipped to [{lengths.min_len}, {lengths.max_len}]",
        "lr": spec.lr,
        "scheduler": spec.scheduler,
        "warmup_steps": spec.warmup_steps,
        "max_grad_norm": spec.max_grad_norm,
        "lora": {
            "r": spec.lora_r,
            "alpha": spec.lora_alpha,
            "dropout": spec.lora_dropout,
            "target_modules": spec.target_modules,
        },
        "baseline_batch_size": spec.batch_size,
        "tunesmith_batch_tokens": spec.batch_tokens,
        "tunesmith_grad_accum": spec.grad_accum,
        "seed": seed,
        "torch_threads": threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    report = build_report(arms, settings)
    print_report(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    return report
