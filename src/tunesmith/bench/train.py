"""`tunesmith bench train`: Trainer + PEFT (pad to longest) against tunesmith (packed), side by side.

    tunesmith bench train --json bench_train.json

Both arms fine-tune the same random-init preset with the same LoRA (r, alpha, dropout, target
modules), lr, cosine schedule, init seed and torch thread count, for one epoch over the same
seeded long-tailed chat records, so both see the same real tokens in the same number of
optimizer steps. Each arm runs in its own subprocess (see `bench.arms`); with `repeats` > 1
the arms alternate (A B B A ...) and each arm's fastest run is reported, which damps noise from
other work on a shared machine. Reported: real tokens/s, padded tokens processed, peak RSS,
train and held-out loss, wall and CPU time, and the ratios.
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
from tunesmith.progress import status
from tunesmith.tokenize.packing import pack_bins

DEFAULT_BUDGET_TOKENS = 200_000
HELDOUT_TOKENS = 12_000
ARMS = ("baseline", "tunesmith")


def match_packing(sizes: list[int], steps: int, grad_accum: int) -> int:
    """Smallest `batch_tokens` (a multiple of 16) whose packed plan fits in `steps` steps."""
    lo, hi = 16, max(16, math.ceil(sum(sizes) / 16) * 16)
    while lo < hi:
        mid = (lo + hi) // 32 * 16
        if math.ceil(len(pack_bins(sizes, mid)) / grad_accum) <= steps:
            hi = mid
        else:
            lo = mid + 16
    return lo


def plan_spec(sizes: list[int], spec: ArmSpec, row_tokens: int) -> ArmSpec:
    """Size our packed rows (about `row_tokens`) so both arms take the same optimizer steps."""
    steps = math.ceil(len(sizes) / spec.batch_size)
    spec.grad_accum = max(1, round(sum(sizes) / steps / row_tokens))
    spec.batch_tokens = match_packing(sizes, steps, spec.grad_accum)
    return spec


def run_arm(
    arm: str, spec_path: Path, out: Path, threads: int, module: str = "tunesmith.bench.arms"
) -> dict:
    """Run one arm (`python -m module SPEC ARM OUT`) in a fresh interpreter; its numbers plus
    the subprocess wall time."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
    }
    cmd = [sys.executable, "-m", module, str(spec_path), arm, str(out)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench arm '{arm}' failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    numbers = json.loads(out.read_text())
    numbers["process_seconds"] = time.perf_counter() - started
    return numbers


def arm_order(repeats: int) -> list[str]:
    """A B, then B A, then A B ...: neither arm always runs first."""
    return [a for r in range(repeats) for a in (ARMS if r % 2 == 0 else ARMS[::-1])]


def settings_of(spec: ArmSpec, sizes: list[int], held: list[int], lengths: LengthSpec) -> dict:
    return {
        "model": spec.model,
        "train_data": length_stats(sizes),
        "heldout_data": length_stats(held),
        "length_distribution": f"log-normal median {lengths.median:g} sigma {lengths.sigma:g}, "
        f"clipped to [{lengths.min_len}, {lengths.max_len}]",
        "epochs": 1,
        "lr": spec.lr,
        "scheduler": spec.scheduler,
        "warmup_steps": spec.warmup_steps,
        "max_grad_norm": spec.max_grad_norm,
        "method": spec.method,
        "precision": spec.precision,
        "lora": {
            "r": spec.lora_r,
            "alpha": spec.lora_alpha,
            "dropout": spec.lora_dropout,
            "target_modules": spec.target_modules,
        },
        "baseline_batch_size": spec.batch_size,
        "tunesmith_batch_tokens": spec.batch_tokens,
        "tunesmith_grad_accum": spec.grad_accum,
        "seed": spec.seed,
        "torch_threads": spec.threads,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }


def run_bench(
    json_path: str | None = None,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    model: str = "tiny-qwen2",
    batch_size: int = 8,
    row_tokens: int = 512,
    threads: int | None = None,
    repeats: int = 1,
    seed: int = 42,
    heldout_tokens: int = HELDOUT_TOKENS,
    quiet: bool = False,
    method: str = "lora",
    precision: str = "fp32",
) -> dict:
    """Run both arms on `budget_tokens` real training tokens; print the table, return the report.

    batch_size: the baseline's samples per optimizer step. Our packed rows hold about
    `row_tokens` tokens, with gradient accumulation making up the same tokens per step.
    threads: torch threads in each arm (default: all CPUs).
    method: lora or full (both arms); precision: fp32 or bf16 (autocast, both arms).
    Model FLOP/s and MFU against the fp32 and bf16 matmul peaks measured in this run
    (bench/train_flops.py) are reported beside the speed.
    """
    from rich.console import Console

    from tunesmith.bench.train_flops import add_mfu, epoch_flops, flops_fit, peaks
    from tunesmith.tokenize.templates import load_tokenizer

    console = Console(quiet=quiet)
    lengths = LengthSpec()
    tok = load_tokenizer()
    train_convs, sizes = make_conversations(tok, budget_tokens=budget_tokens, seed=seed)
    held_convs, held = make_conversations(tok, budget_tokens=heldout_tokens, seed=seed + 1)
    runs: dict[str, list[dict]] = {a: [] for a in ARMS}
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-") as tmp:
        work = Path(tmp)
        spec = ArmSpec(
            train_file=str(write_jsonl(train_convs, work / "train.jsonl")),
            heldout_file=str(write_jsonl(held_convs, work / "heldout.jsonl")),
            work_dir=str(work),
            model=model,
            seed=seed,
            threads=threads or os.cpu_count() or 1,
            max_len=lengths.max_len,
            batch_size=batch_size,
            method=method,
            precision=precision,
        )
        spec_path = plan_spec(sizes, spec, row_tokens).save(work / "spec.json")
        for i, arm in enumerate(arm_order(repeats)):
            what = f"{arm} arm, run {len(runs[arm]) + 1}/{repeats}: {sum(sizes):,} tokens"
            with status(f"bench train: {what}", console):
                runs[arm].append(run_arm(arm, spec_path, work / f"{i}-{arm}.json", spec.threads))
        with console.status("bench train: model FLOPs and the matmul peaks"):
            fit, peak = flops_fit(spec), peaks(spec.threads)
    report = build_report(runs, settings_of(spec, sizes, held, lengths))
    add_mfu(report, epoch_flops(sizes, fit), peak, precision)
    report["settings"]["budget_tokens"] = budget_tokens
    report["settings"]["repeats"] = repeats
    print_report(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    return report
