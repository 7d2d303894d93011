"""`tunesmith bench memory --shape qwen-1.5b`: training memory on real model dimensions.

    tunesmith bench memory --shape qwen-1.5b --seq 1024 4096 --layers 1 2 --json mem.json

Random-init models with the real width, heads, intermediate sizes and vocabulary of the model
a shape names (bench/memory_shapes.py) but few layers. For each sequence length and depth,
every arm takes one optimizer step on one `[1, seq]` micro-batch in its own fresh
interpreter, and reports its peak RSS (VmHWM) from the end of model loading on (the
high-water mark is reset there, so the loader's transient copies do not count). The model is
stored in bf16 and loaded in fp32 by every arm, so all its weights are resident from the
start rather than paged in from a mapped file where touched:

  load only                 load the model (and, for tunesmith, the data); no training
  Trainer + PEFT LoRA       the common script: from_pretrained, get_peft_model, Trainer with
                            TrainingArguments' defaults (fp32, AdamW, no checkpointing)
  Trainer full              the same without PEFT
  tunesmith lora|full       `tunesmith train` (the real loop), loss_impl plain or chunked,
                            gradient checkpointing off or on

An arm's training delta is its peak minus the load-only peak at that depth and length: the
gradients, optimizer state, activations and logits that training adds. From two depths the
delta per layer is their difference per layer, and the delta at full depth is extrapolated
linearly (both depths must be past any dense-only leading layers, or the shape uniform).
The logits' share is the fp32 `[seq, vocab]` tensor's size, beside the measured saving of
the chunked loss (plain minus chunked). LoRA on both sides: r 16, alpha 32, dropout 0, all
linear layers. CPU RSS: the numbers compare arms on one machine; GPU memory follows the same
tensors but not the allocator's slack.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from rich.console import Console

from tunesmith.bench.memory import peak_rss_mb
from tunesmith.bench.memory_shapes import SHAPES, Shape, extrapolate, write_model


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # load | hf | tunesmith
    method: str = "lora"
    gc: bool = False
    loss_impl: str = "plain"


LOAD = Arm("load only", "load")
ARMS = [
    LOAD,
    Arm("Trainer + PEFT LoRA", "hf", "lora"),
    Arm("Trainer full", "hf", "full"),
    *[
        Arm(
            f"tunesmith {m}{' + gc' if gc else ''}{' + chunked' if impl == 'chunked' else ''}",
            "tunesmith",
            m,
            gc,
            impl,
        )
        for m in ("lora", "full")
        for gc in (False, True)
        for impl in ("plain", "chunked")
    ],
]
ARM_NAMES = [a.name for a in ARMS]
LORA = {"r": 16, "alpha": 32, "dropout": 0.0}


def text_records(seq: int) -> list[dict]:
    """One text record longer than `seq` tokens (truncated to exactly `seq`)."""
    words = [f"w{(i * 7919) % 997}" for i in range(seq * 2)]
    return [{"text": " ".join(words)}]


def tunesmith_config(model: Path, data: Path, out: Path, arm: Arm, seq: int) -> dict:
    return {
        "model": {"name_or_path": str(model)},
        "data": {"train": [str(data)], "format": "text", "max_len": seq, "packing": True},
        "method": {"name": arm.method, "lora": dict(LORA)},
        "train": {
            "max_steps": 1,
            "batch_tokens": seq,
            "lr": 1e-4,
            "gradient_checkpointing": arm.gc,
            "loss_impl": arm.loss_impl,
            "progress": False,
            "seed": 0,
        },
        "output": {"dir": str(out), "tensorboard": False, "plot": False, "overwrite": True},
    }


def hf_child(model_dir: str, method: str, seq: int, out_dir: str) -> dict:
    """The common Trainer (+ PEFT) script, one optimizer step on one [1, seq] sample."""
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    reset_peak()
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=LORA["r"],
                lora_alpha=LORA["alpha"],
                lora_dropout=LORA["dropout"],
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )
    ids = torch.randint(3, 4096, (seq,), generator=torch.Generator().manual_seed(0)).tolist()
    data = [{"input_ids": ids, "attention_mask": [1] * seq, "labels": ids}]
    args = TrainingArguments(
        output_dir=out_dir,
        per_device_train_batch_size=1,
        max_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
    )
    Trainer(model=model, args=args, train_dataset=data).train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": trainable}


def reset_peak() -> None:
    """Start the high-water mark afresh at the current RSS (Linux >= 4.0: clear_refs 5), so
    the loader's transient copies (bf16 file -> fp32 weights) do not mask training's peak."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as e:
        raise RuntimeError(f"bench memory needs /proc/self/clear_refs (Linux): {e}") from None


def child(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    if spec["kind"] == "hf":
        numbers = hf_child(spec["model"], spec["method"], spec["seq"], spec["out"])
    else:
        from tunesmith.config import load_config

        cfg = load_config(spec["config"])
        if spec["kind"] == "load":
            from tunesmith.models.load import load_model_and_tokenizer
            from tunesmith.training.data import build_splits

            _, tok = load_model_and_tokenizer(cfg.model)
            reset_peak()
            build_splits(cfg.data, tok, seed=0)
            numbers = {"trainable_params": 0}
        else:
            from tunesmith.training import setup
            from tunesmith.training.loop import train

            load = setup.load_model

            def load_then_reset(*args: object, **kwargs: object) -> object:
                out = load(*args, **kwargs)
                reset_peak()
                return out

            setup.load_model = load_then_reset  # the recipe's own call, then the reset
            run = train(cfg)
            summary = json.loads((run / "train_summary.json").read_text())
            numbers = {"trainable_params": summary["trainable_params"]}
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), **numbers}))


def run_arm(spec: dict, path: Path, threads: int) -> dict:
    path.write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MALLOC_MMAP_THRESHOLD_": "131072"}
    cmd = [sys.executable, "-m", "tunesmith.bench.memory_real", str(path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench memory arm '{spec['arm']}' failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(
    shape: Shape, seqs: list[int], layers: list[int], arms: list[Arm], root: Path, threads: int
) -> list[dict]:
    """One row per (arm, seq, depth), the load-only reference first in each group."""
    console = Console(stderr=True)
    rows: list[dict] = []
    for depth in layers:
        model = write_model(shape, depth, max(seqs), root / f"model-{depth}")
        for seq in seqs:
            data = root / f"text-{seq}.jsonl"
            data.write_text("".join(json.dumps(r) + "\n" for r in text_records(seq)))
            for arm in [LOAD, *[a for a in arms if a != LOAD]]:
                console.print(f"[dim]bench memory: {shape.name} L={depth} seq={seq} {arm.name}")
                cfg = root / "arm.yaml"
                cfg.write_text(
                    yaml.safe_dump(tunesmith_config(model, data, root / "run", arm, seq))
                )
                spec = {
                    "arm": arm.name,
                    "kind": arm.kind,
                    "method": arm.method,
                    "config": str(cfg),
                    "model": str(model),
                    "seq": seq,
                    "out": str(root / "hf"),
                }
                got = run_arm(spec, root / "arm.json", threads)
                rows.append({"arm": arm.name, "seq": seq, "layers": depth, **got})
        for f in (root / f"model-{depth}").iterdir():
            f.unlink()  # free the disk before the next depth
    return rows


def summarize(shape: Shape, rows: list[dict]) -> list[dict]:
    """Training deltas per (arm, seq) at each depth, per layer and at full depth, and the
    ratio to the Trainer arm of the same method."""
    load = {(r["seq"], r["layers"]): r["peak_rss_mb"] for r in rows if r["arm"] == LOAD.name}
    table: dict[tuple[str, int], dict] = {}
    for r in rows:
        if r["arm"] == LOAD.name:
            continue
        entry = table.setdefault(
            (r["arm"], r["seq"]),
            {"arm": r["arm"], "seq": r["seq"], "trainable_params": r["trainable_params"]},
        )
        entry.setdefault("peak_rss_mb", {})[r["layers"]] = r["peak_rss_mb"]
        delta = r["peak_rss_mb"] - load[(r["seq"], r["layers"])]
        entry.setdefault("delta_mb", {})[r["layers"]] = delta
    out = list(table.values())
    for e in out:
        fit = extrapolate(e["delta_mb"], shape.full_layers)
        e["per_layer_mb"], e["full_depth_delta_mb"] = fit if fit else (None, None)
        e["logits_fp32_mb"] = e["seq"] * shape.vocab * 4 / 2**20
    by_key = {(e["arm"], e["seq"]): e for e in out}
    for e in out:
        method = "lora" if "lora" in e["arm"].lower() else "full"
        ref = by_key.get(("Trainer + PEFT LoRA" if method == "lora" else "Trainer full", e["seq"]))
        if ref is not None:
            deep = max(e["delta_mb"])
            e["vs_trainer"] = e["delta_mb"][deep] / ref["delta_mb"][deep]
            if e["full_depth_delta_mb"] is not None and ref["full_depth_delta_mb"]:
                e["vs_trainer_full_depth"] = e["full_depth_delta_mb"] / ref["full_depth_delta_mb"]
        plain = by_key.get((e["arm"].replace(" + chunked", ""), e["seq"]))
        if e["arm"].endswith("+ chunked") and plain is not None:
            deep = max(e["delta_mb"])
            e["chunked_saving_mb"] = plain["delta_mb"][deep] - e["delta_mb"][deep]
    return out


def run_bench(
    json_path: str | None = None,
    *,
    shape: str = "qwen-1.5b",
    seqs: tuple[int, ...] = (1024, 4096),
    layers: tuple[int, ...] = (1, 2),
    arms: tuple[str, ...] = (),
    threads: int = 0,
) -> dict:
    """Measure `arms` (default: all) of `shape` at each length and depth; print, return."""
    from tunesmith.bench.memory_table import print_real_table

    if shape not in SHAPES:
        raise SystemExit(f"--shape: '{shape}' (expected one of {', '.join(SHAPES)})")
    unknown = [a for a in arms if a not in ARM_NAMES]
    if unknown:
        raise SystemExit(f"--arms: {unknown} (expected some of {ARM_NAMES})")
    s = SHAPES[shape]
    if s.dense_first and len(layers) > 1 and min(layers) < s.dense_first:
        raise SystemExit(f"--layers: {shape} has {s.dense_first} dense layer(s) first; use >= it")
    chosen = [a for a in ARMS if not arms or a.name in arms]
    threads = threads or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="tunesmith-mem-") as tmp:
        rows = measure(s, list(seqs), sorted(set(layers)), chosen, Path(tmp), threads)
    report = {
        "shape": s.name,
        "dimensions_of": s.real,
        "sizes": s.sizes,
        "layers_measured": sorted(set(layers)),
        "full_layers": s.full_layers,
        "seqs": list(seqs),
        "threads": threads,
        "rows": rows,
        "arms": summarize(s, rows),
    }
    print_real_table(report, Console(width=170))
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    child(sys.argv[1])
