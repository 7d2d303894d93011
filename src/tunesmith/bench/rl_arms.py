"""One `bench rl` arm in a fresh process: `python -m tunesmith.bench.rl_arms SPEC ARM OUT`
(ARM: trl or tunesmith), and the reward both arms score with (`recall`).

trl: TRL's GRPOTrainer, rollouts by transformers `generate` on the PeftModel (vLLM needs a
GPU); its generation seconds are measured by timing that `generate` call. tunesmith:
recipe=grpo, rollouts by the engine (its `rollout_seconds` metric).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from tunesmith.bench.arms import cpu_seconds, peak_rss_mb

ARMS = ("trl", "tunesmith")


def recall(prompts: Sequence, completions: Sequence, **_: object) -> list[float]:
    """Share of the words the prompt asks for ("Say the words: a b c") that the completion
    contains. Completions are strings (tunesmith) or assistant messages (TRL)."""
    out = []
    for p, c in zip(prompts, completions, strict=True):
        ptext = p if isinstance(p, str) else p[-1]["content"]
        ctext = c if isinstance(c, str) else c[-1]["content"]
        wanted = ptext.split(":", 1)[1].split()
        said = set(ctext.replace(".", " ").split())
        out.append(sum(w in said for w in wanted) / len(wanted))
    return out


def _lora(spec: dict) -> dict:
    return {"r": spec["lora_r"], "alpha": spec["lora_alpha"], "dropout": 0.0,
            "target_modules": spec["target_modules"]}  # fmt: skip


def train_trl(spec: dict) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers.utils import logging as hf_logging
    from trl import GRPOConfig, GRPOTrainer

    from tunesmith.config.schema import ModelConfig
    from tunesmith.models.load import load_model_and_tokenizer

    hf_logging.set_verbosity_error()
    model, tok = load_model_and_tokenizer(
        ModelConfig(name_or_path=spec["model"]), seed=spec["seed"]
    )
    lora = _lora(spec)
    peft = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=0.0,
                      target_modules=lora["target_modules"], task_type="CAUSAL_LM")  # fmt: skip
    rows = [json.loads(x) for x in Path(spec["train_file"]).read_text().splitlines() if x]
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}]} for r in rows])
    P, G = spec["prompts_per_step"], spec["group_size"]
    args = GRPOConfig(
        output_dir=str(Path(spec["work_dir"]) / "trl"), per_device_train_batch_size=P * G,
        num_generations=G, steps_per_generation=1, max_completion_length=spec["max_tokens"],
        temperature=spec["temperature"], learning_rate=spec["lr"], lr_scheduler_type="constant",
        beta=spec["beta"], loss_type="grpo", max_steps=spec["steps"], seed=spec["seed"],
        data_seed=spec["seed"], report_to="none", save_strategy="no", logging_steps=1,
        use_cpu=True, bf16=False, fp16=False, dataloader_num_workers=0, disable_tqdm=True,
        max_grad_norm=1.0,
    )  # fmt: skip
    trainer = GRPOTrainer(model=model, reward_funcs=[recall], args=args, train_dataset=data,
                          processing_class=tok, peft_config=peft)  # fmt: skip
    gen = {"seconds": 0.0}
    inner = trainer.model.generate

    def timed(*a: object, **kw: object) -> object:
        start = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            gen["seconds"] += time.perf_counter() - start

    trainer.model.generate = timed
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    logs = [r for r in trainer.state.log_history if "reward" in r]
    generated = sum(r["completions/mean_length"] * P * G for r in logs)
    return {
        "train_seconds": seconds, "steps": trainer.state.global_step,
        "rewards": [r["reward"] for r in logs], "generation_seconds": gen["seconds"],
        "generated_tokens": generated,
    }  # fmt: skip


def train_tunesmith(spec: dict) -> dict:
    from tunesmith.api import train

    cfg = {
        "recipe": "grpo",
        "model": {"name_or_path": spec["model"]},
        "data": {"train": [spec["train_file"]], "max_len": 256},
        "method": {"name": "lora", "lora": _lora(spec)},
        "grpo": {
            "group_size": spec["group_size"], "prompts_per_step": spec["prompts_per_step"],
            "max_completion_length": spec["max_tokens"], "temperature": spec["temperature"],
            "beta": spec["beta"], "loss_type": "grpo", "rewards": ["tunesmith.bench.rl_arms:recall"],
        },
        "train": {"max_steps": spec["steps"], "lr": spec["lr"], "scheduler": "constant",
                  "max_grad_norm": 1.0, "seed": spec["seed"], "progress": False},
        "output": {"dir": str(Path(spec["work_dir"]) / "tunesmith"), "overwrite": True,
                   "tensorboard": False, "plot": False},
    }  # fmt: skip
    run_dir = train(cfg)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    rows = [r for r in rows if "reward" in r]
    return {
        "train_seconds": summary["train_seconds"], "steps": summary["steps"],
        "rewards": [r["reward"] for r in rows],
        "generation_seconds": sum(r["rollout_seconds"] for r in rows),
        "generated_tokens": sum(r["completions/mean_length"] * spec["prompts_per_step"]
                                * spec["group_size"] for r in rows),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    spec_path, arm, out_path = argv
    if arm not in ARMS:
        raise SystemExit(f"arm: '{arm}' (expected one of {ARMS})")
    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(spec["threads"])
    started, cpu_started = time.perf_counter(), cpu_seconds()
    numbers = (train_trl if arm == "trl" else train_tunesmith)(spec)
    numbers["arm_seconds"] = time.perf_counter() - started
    numbers["arm_cpu_seconds"] = cpu_seconds() - cpu_started
    numbers["peak_rss_mb"] = peak_rss_mb()
    numbers["torch_threads"] = torch.get_num_threads()
    Path(out_path).write_text(json.dumps(numbers, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
