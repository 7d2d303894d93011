"""One `bench rl` stage in a fresh process: `python -m tunesmith.bench.rl_arms SPEC ARM OUT`.

ARM coldstart: the short SFT cold start both arms start from (the R1 recipe's stage 1, as
examples/grpo/coldstart.yaml: LoRA on every linear layer, the think markers trained), merged
into a model directory. trl: TRL's GRPOTrainer, rollouts by transformers `generate` on the
PeftModel (vLLM needs a GPU); its generation seconds are measured by timing that `generate`
call. tunesmith: recipe=grpo, rollouts by the engine (its `rollout_seconds` metric). Both
score with tunesmith's built-in `think_format` and `accuracy` rewards (TRL through
`trl_rewards`, which hands them the completion text and the record's `answer`).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from tunesmith.bench.arms import cpu_seconds, peak_rss_mb
from tunesmith.training.rl.rewards.builtins import accuracy, think_format

ARMS = ("coldstart", "trl", "tunesmith")
REWARDS = ("think_format", "accuracy")


def _texts(completions: Sequence) -> list[str]:
    """Completion texts: TRL hands conversational completions as assistant messages."""
    return [c if isinstance(c, str) else c[-1]["content"] for c in completions]


def trl_think_format(prompts: Sequence, completions: Sequence, **_: object) -> list[float | None]:
    return think_format(prompts, _texts(completions))


def trl_accuracy(
    prompts: Sequence, completions: Sequence, answer: Sequence | None = None, **_: object
) -> list[float | None]:
    return accuracy(prompts, _texts(completions), answer=answer)


def trl_rewards() -> list[Callable]:
    """The bench's rewards (REWARDS) as TRL reward functions, in the same order."""
    return [trl_think_format, trl_accuracy]


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
    data = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"]}
            for r in rows
        ]
    )
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
    trainer = GRPOTrainer(model=model, reward_funcs=trl_rewards(), args=args, train_dataset=data,
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
        "data": {"train": [spec["train_file"]], "max_len": 128},
        "method": {"name": "lora", "lora": _lora(spec)},
        "grpo": {
            "group_size": spec["group_size"], "prompts_per_step": spec["prompts_per_step"],
            "max_completion_length": spec["max_tokens"], "temperature": spec["temperature"],
            "beta": spec["beta"], "loss_type": "grpo", "rewards": list(REWARDS),
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


def coldstart(spec: dict) -> dict:
    """SFT cold start on spec["coldstart_file"], merged into spec["start_model"]."""
    from tunesmith.api import train
    from tunesmith.compress.merge import merge_adapter

    cfg = {
        "recipe": "sft",
        "model": {"name_or_path": spec["base_model"]},
        "data": {"train": [spec["coldstart_file"]], "max_len": 64},
        "method": {"name": "lora", "lora": {"r": 16, "alpha": 32, "dropout": 0.0,
                   "target_modules": ["all-linear"], "trainable_tokens": ["all-special"]}},
        "train": {"max_steps": spec["coldstart_steps"], "batch_tokens": 512, "lr": 5e-3,
                  "scheduler": "constant", "seed": 0, "progress": False},
        "output": {"dir": str(Path(spec["work_dir"]) / "coldstart"), "overwrite": True,
                   "tensorboard": False, "plot": False},
    }  # fmt: skip
    started = time.perf_counter()
    run_dir = train(cfg)
    merge_adapter(run_dir, spec["start_model"], overwrite=True)
    return {"train_seconds": time.perf_counter() - started, "model": spec["start_model"]}


def main(argv: list[str]) -> int:
    spec_path, arm, out_path = argv
    if arm not in ARMS:
        raise SystemExit(f"arm: '{arm}' (expected one of {ARMS})")
    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(spec["threads"])
    started, cpu_started = time.perf_counter(), cpu_seconds()
    stage = {"coldstart": coldstart, "trl": train_trl, "tunesmith": train_tunesmith}[arm]
    numbers = stage(spec)
    numbers["arm_seconds"] = time.perf_counter() - started
    numbers["arm_cpu_seconds"] = cpu_seconds() - cpu_started
    numbers["peak_rss_mb"] = peak_rss_mb()
    numbers["torch_threads"] = torch.get_num_threads()
    Path(out_path).write_text(json.dumps(numbers, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
