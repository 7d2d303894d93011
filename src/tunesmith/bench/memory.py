"""`tunesmith bench memory`: peak memory of every method, with and without gradient
checkpointing, on one model, in one run.

    tunesmith bench memory --json bench_memory.json

Each arm is a real `tunesmith train` run (the same loop, optimizer and data path users get)
in a fresh interpreter, on the same random-init DeepSeek-V3-shaped model (MLA + MoE, written
once to a temp directory) and the same packed batches. The baseline arm loads the model and
the data and does not train; each arm's `training delta` is its peak RSS minus the
baseline's, i.e. what training adds (gradients, optimizer state, activations). Peak RSS is the
process's high-water mark (VmHWM; glibc's mmap threshold is lowered so freed blocks leave
at once): the numbers compare methods on one machine, they are not a GPU memory forecast.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from tunesmith.progress import status

METHODS = ("full", "lora", "dora", "freeze", "prefix")
BATCH_TOKENS = 2048
BASELINE = "load only"

# A DeepSeek-V3 shape big enough that weights, optimizer state and activations all show.
MODEL_SHAPE = {
    "hidden_size": 512,
    "intermediate_size": 1536,
    "moe_intermediate_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 8,
    "num_key_value_heads": 8,
    "n_routed_experts": 8,
    "q_lora_rank": 128,
    "kv_lora_rank": 128,
    "qk_rope_head_dim": 32,
    "qk_nope_head_dim": 32,
    "v_head_dim": 64,
}


def write_model(path: Path, shape: dict) -> Path:
    import torch
    from transformers import AutoModelForCausalLM

    from tunesmith.models.tiny import tiny_deepseek_v3_config
    from tunesmith.tokenize.templates import load_tokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny_deepseek_v3_config(**shape)).save_pretrained(path)
    load_tokenizer(None).save_pretrained(path)
    return path


def arm_config(model: Path, data: Path, out: Path, method: str, gc: bool, steps: int) -> dict:
    packed = method != "prefix"
    return {
        "model": {"name_or_path": str(model)},
        "data": {"train": [str(data)], "max_len": 512, "packing": packed},
        "method": {
            "name": method,
            "lora": {"r": 16, "alpha": 32},
            "freeze": {"trainable_layers": ["-2:"], "trainable_modules": ["lm_head"]},
        },
        "train": {
            "max_steps": steps,
            "batch_tokens": BATCH_TOKENS,
            "batch_size": 16,
            "lr": 1e-4,
            "gradient_checkpointing": gc,
            "progress": False,
            "seed": 0,
        },
        "output": {"dir": str(out), "tensorboard": False, "plot": False, "overwrite": True},
    }


def child(config_path: str, load_only: bool) -> None:
    """Run one arm in this process; print its peak RSS as JSON on the last line."""
    from tunesmith.config import load_config

    cfg = load_config(config_path)
    if load_only:
        from tunesmith.models.load import load_model_and_tokenizer
        from tunesmith.training.data import build_splits

        _, tok = load_model_and_tokenizer(cfg.model)
        build_splits(cfg.data, tok, seed=0)
        trainable = 0
    else:
        from tunesmith.training.loop import train

        run = train(cfg)
        trainable = json.loads((run / "train_summary.json").read_text())["trainable_params"]
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "trainable_params": trainable}))


def peak_rss_mb() -> float:
    """This process's own high-water RSS. Linux: VmHWM, which starts afresh at exec; the
    getrusage maximum would also count the parent's RSS at fork (it survives execve)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_arm(config: Path, load_only: bool, threads: int) -> dict:
    # glibc serves big blocks from mmap and returns them at once, so the high-water RSS
    # tracks live tensors rather than heap fragments the allocator kept.
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MALLOC_MMAP_THRESHOLD_": "131072"}
    cmd = [sys.executable, "-m", "tunesmith.bench.memory", str(config)]
    proc = subprocess.run(
        cmd + (["--load-only"] if load_only else []), env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench memory arm {config.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_bench(
    json_path: str | None = None,
    steps: int = 2,
    threads: int = 0,
    shape: dict | None = None,
    methods: tuple[str, ...] = METHODS,
) -> dict:
    """Every method with and without gradient checkpointing, plus the load-only baseline.

    `shape` overrides MODEL_SHAPE (the test uses the tiny preset's sizes)."""
    from tunesmith.data.tag_task import chat_dataset

    console = Console()
    threads = threads or os.cpu_count() or 1
    shape = MODEL_SHAPE if shape is None else shape
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = write_model(root / "model", shape)
        rows, _ = chat_dataset(400, 0, seed=0)
        data = root / "train.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        # PEFT's prefix tuning refuses gradient checkpointing, so that arm does not exist
        arms: list[tuple[str, bool]] = [(BASELINE, False)] + [
            (m, gc) for m in methods for gc in (False, True) if not (m == "prefix" and gc)
        ]
        results: dict[str, dict] = {}
        for method, gc in arms:
            name = method if method == BASELINE else f"{method}{' + gc' if gc else ''}"
            cfg = arm_config(
                model, data, root / "run", "lora" if method == BASELINE else method, gc, steps
            )
            path = root / f"{name.replace(' ', '_')}.yaml"
            path.write_text(yaml.safe_dump(cfg))
            with status(f"bench memory: {name}", console):
                results[name] = run_arm(path, method == BASELINE, threads)
    base = results[BASELINE]["peak_rss_mb"]
    for r in results.values():
        r["training_delta_mb"] = r["peak_rss_mb"] - base
    full = results["full"]["training_delta_mb"]
    for r in results.values():
        r["delta_vs_full"] = r["training_delta_mb"] / full if full > 0 else None
    report = {"model": shape, "steps": steps, "batch_tokens": BATCH_TOKENS, "arms": results}
    print_table(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_table(report: dict, console: Console) -> None:
    table = Table(title="peak memory per method (RSS, one process, CPU)")
    for col in ("arm", "trainable params", "peak RSS MB", "training delta MB", "delta / full"):
        table.add_column(col, justify="left" if col == "arm" else "right")
    for name, r in report["arms"].items():
        ratio = r["delta_vs_full"]
        table.add_row(
            name,
            f"{r['trainable_params']:,}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['training_delta_mb']:.0f}",
            "-" if name == BASELINE or ratio is None else f"{ratio:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    child(sys.argv[1], "--load-only" in sys.argv[2:])
