"""One `bench preference` arm in a fresh process: `python -m tunesmith.bench.preference_arms
SPEC ARM OUT` (ARM: trl or tunesmith). Both arms then score their final adapter alike:
held-out reward accuracy (the DPO implicit reward, the reference being the base with the
adapter disabled) and pairwise accuracy, with tunesmith's packed log-prob code.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from tunesmith.bench.arms import cpu_seconds, peak_rss_mb
from tunesmith.bench.spec import ArmSpec

ARMS = ("trl", "tunesmith")


def _records(path: str) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def _lora(spec: ArmSpec) -> dict:
    return {"r": spec.lora_r, "alpha": spec.lora_alpha, "dropout": spec.lora_dropout,
            "target_modules": list(spec.target_modules)}  # fmt: skip


def train_trl(spec: ArmSpec, beta: float) -> tuple[torch.nn.Module, object, dict]:
    """TRL's DPOTrainer with its defaults (pairs padded to the longest of each batch, the
    reference computed every step) on the same model, LoRA, data, beta, lr, seed and steps."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers.utils import logging as hf_logging
    from trl import DPOConfig, DPOTrainer

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    hf_logging.set_verbosity_error()
    model, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path=spec.model, attn_implementation="sdpa"), seed=spec.seed
    )
    lora = _lora(spec)
    peft = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=lora["target_modules"], task_type="CAUSAL_LM")  # fmt: skip
    data = Dataset.from_list(_records(spec.train_file))
    args = DPOConfig(
        output_dir=str(Path(spec.work_dir) / "trl"), per_device_train_batch_size=spec.batch_size,
        num_train_epochs=1, learning_rate=spec.lr, lr_scheduler_type=spec.scheduler,
        warmup_steps=spec.warmup_steps, max_grad_norm=spec.max_grad_norm, beta=beta,
        max_length=spec.max_len, seed=spec.seed, data_seed=spec.seed, report_to="none",
        save_strategy="no", logging_steps=1, use_cpu=True, bf16=False, fp16=False,
        dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok,
                         peft_config=peft)  # fmt: skip
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    logs = [r for r in trainer.state.log_history if "loss" in r]
    numbers = {
        "train_seconds": seconds,
        "steps": trainer.state.global_step,
        "step_losses": [r["loss"] for r in logs],
        "trl_num_tokens": logs[-1].get("num_tokens") if logs else None,
    }
    return trainer.model, tok, numbers


def train_tunesmith(spec: ArmSpec, beta: float) -> tuple[torch.nn.Module, object, dict]:
    from peft import PeftModel

    from tunesmith.api import train
    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    cfg = {
        "recipe": "preference",
        "model": {"name_or_path": spec.model},
        "data": {"train": [spec.train_file], "max_len": spec.max_len},
        "method": {"name": "lora", "lora": _lora(spec)},
        "preference": {"loss": "dpo", "beta": beta},
        "train": {
            "epochs": 1, "batch_tokens": spec.batch_tokens, "grad_accum": spec.grad_accum,
            "lr": spec.lr, "scheduler": spec.scheduler, "warmup_steps": spec.warmup_steps,
            "max_grad_norm": spec.max_grad_norm, "seed": spec.seed, "progress": False,
        },
        "output": {"dir": str(Path(spec.work_dir) / "tunesmith"), "overwrite": True,
                   "tensorboard": False, "plot": False},
    }  # fmt: skip
    run_dir = train(cfg)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    numbers = {
        "train_seconds": summary["train_seconds"],
        "steps": summary["steps"],
        "step_losses": [r["loss"] for r in records],
    }
    base, tok = load_model_and_tokenizer(ModelConfig(name_or_path=spec.model), seed=spec.seed)
    return PeftModel.from_pretrained(base, run_dir / "adapter"), tok, numbers


@torch.no_grad()
def heldout_scores(model: torch.nn.Module, tok: object, spec: ArmSpec, beta: float) -> dict:
    """Reward accuracy and mean margin (DPO rewards, reference = adapter disabled), pairwise
    accuracy, on the held-out pairs."""
    from tunesmith.data.preference import load_preference
    from tunesmith.evaluation.pairwise import forward_logps
    from tunesmith.tokenize.preference import collate_items, encode_records

    model.eval()
    items = encode_records(tok, load_preference([spec.heldout_file]).records, spec.max_len)
    wins = pair_wins = margin = 0.0
    for start in range(0, len(items), 16):
        batch = collate_items(items[start : start + 16], packing=True, pad_id=0)
        policy = forward_logps(model, batch)[0].view(-1, 2)
        with model.disable_adapter():
            ref = forward_logps(model, batch)[0].view(-1, 2)
        rewards = beta * (policy - ref)
        wins += float((rewards[:, 0] > rewards[:, 1]).sum())
        pair_wins += float((policy[:, 0] > policy[:, 1]).sum())
        margin += float((rewards[:, 0] - rewards[:, 1]).sum())
    n = max(len(items), 1)
    return {"heldout_reward_accuracy": wins / n, "heldout_pairwise_accuracy": pair_wins / n,
            "heldout_margin": margin / n}  # fmt: skip


def run_arm(arm: str, spec: ArmSpec, beta: float) -> dict:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    trainer = train_trl if arm == "trl" else train_tunesmith
    model, tok, numbers = trainer(spec, beta)
    numbers["arm_seconds"] = time.perf_counter() - started
    numbers["arm_cpu_seconds"] = cpu_seconds() - cpu_started
    numbers["peak_rss_mb"] = peak_rss_mb()
    numbers |= heldout_scores(model, tok, spec, beta)
    numbers["torch_threads"] = torch.get_num_threads()
    return numbers


def main(argv: list[str]) -> int:
    spec_path, arm, out_path = argv
    if arm not in ARMS:
        raise SystemExit(f"arm: '{arm}' (expected one of {ARMS})")
    raw = json.loads(Path(spec_path).read_text())
    beta = raw.pop("beta")
    spec = ArmSpec(**raw)
    torch.set_num_threads(spec.threads)
    Path(out_path).write_text(json.dumps(run_arm(arm, spec, beta), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
