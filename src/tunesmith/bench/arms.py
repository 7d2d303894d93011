"""One benchmark arm in a fresh process: `python -m tunesmith.bench.arms SPEC ARM OUT`.

A fresh process per arm keeps peak RSS per arm (VmHWM, read right after training) and stops
one arm from warming caches or allocators for the other. Both arms then score their final
model with the same held-out loss function.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch

from tunesmith.bench.spec import ArmSpec

ARMS = ("baseline", "tunesmith")


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tunesmith_config(spec: ArmSpec) -> dict:
    return {
        "model": {"name_or_path": spec.model},
        "data": {"train": [spec.train_file], "format": "messages", "max_len": spec.max_len},
        "method": {
            "name": spec.method,
            "lora": {
                "r": spec.lora_r,
                "alpha": spec.lora_alpha,
                "dropout": spec.lora_dropout,
                "target_modules": list(spec.target_modules),
            },
        },
        "train": {
            "epochs": 1,
            "batch_tokens": spec.batch_tokens,
            "grad_accum": spec.grad_accum,
            "lr": spec.lr,
            "scheduler": spec.scheduler,
            "warmup_steps": spec.warmup_steps,
            "max_grad_norm": spec.max_grad_norm,
            "precision": spec.precision,
            "seed": spec.seed,
            "progress": False,
        },
        "output": {
            "dir": str(Path(spec.work_dir) / "tunesmith"),
            "overwrite": True,
            "tensorboard": False,
            "plot": False,
        },
    }


def train_tunesmith(spec: ArmSpec) -> tuple[torch.nn.Module, object, dict]:
    """Train with `tunesmith.api.train`; return the trained model reloaded from its adapter.

    The base is rebuilt from the preset and seed (as the loop builds it) rather than read from
    the run's `base/` directory, so the score depends only on the adapter.
    """
    from peft import PeftModel

    from tunesmith.api import train
    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    run_dir = train(tunesmith_config(spec))
    summary = json.loads((run_dir / "train_summary.json").read_text())
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    numbers = {
        "train_seconds": summary["train_seconds"],
        "steps": summary["steps"],
        "real_tokens": records[-1]["tokens"],
        "padded_tokens": records[-1]["tokens"],  # packed rows have no padding
        "step_losses": [r["loss"] for r in records],
    }
    if spec.method != "lora":  # full: the saved model itself
        from tunesmith.models.load import load_trained

        model, tok = load_trained(run_dir)
        return model, tok, numbers
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path=spec.model), seed=spec.seed)
    model = PeftModel.from_pretrained(base, run_dir / "adapter")
    return model, tok, numbers


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_arm(arm: str, spec: ArmSpec) -> dict:
    """Train one arm, then measure; every number the report needs, as plain JSON types."""
    from tunesmith.bench.heldout import encode_file, mean_token_loss

    started, cpu_started = time.perf_counter(), cpu_seconds()
    if arm == "baseline":
        from tunesmith.bench.baseline import train_baseline

        model, tok, numbers = train_baseline(spec)
    else:
        model, tok, numbers = train_tunesmith(spec)
    numbers["arm_seconds"] = time.perf_counter() - started
    numbers["arm_cpu_seconds"] = cpu_seconds() - cpu_started
    numbers["peak_rss_mb"] = peak_rss_mb()
    numbers["heldout_loss"] = mean_token_loss(
        model, encode_file(spec.heldout_file, tok, spec.max_len)
    )
    numbers["torch_threads"] = torch.get_num_threads()
    return numbers


def main(argv: list[str]) -> int:
    spec_path, arm, out_path = argv
    if arm not in ARMS:
        raise SystemExit(f"arm: '{arm}' (expected one of {ARMS})")
    spec = ArmSpec.load(spec_path)
    torch.set_num_threads(spec.threads)
    Path(out_path).write_text(json.dumps(run_arm(arm, spec), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
