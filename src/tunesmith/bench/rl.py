"""`tunesmith bench rl`: TRL's GRPOTrainer against tunesmith's grpo recipe.

    tunesmith bench rl --json bench_rl.json

Both arms GRPO-train the same model with the same LoRA, prompts, reward, group size,
generation length, temperature, beta, lr (constant), seed and number of optimizer steps, one
rollout batch per step (TRL: per_device_train_batch_size = prompts x group,
steps_per_generation 1). The prompts ask "Say the words: a b c" over seeded words; the
reward (bench/rl_arms.py `recall`) is the share of those words the completion contains. TRL
generates with transformers `generate` (vLLM needs a GPU); tunesmith with its engine on the
live weights. Each arm runs in its own subprocess.

Reported per arm: optimizer steps / s, rollout tokens / s (generated tokens, stop tokens
included, over generation seconds), the generation share of training time, peak RSS, the
reward curve (mean reward per step) and its mean over the last half; and the ratios.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
from pathlib import Path

from tunesmith.bench.synth import WordChain
from tunesmith.bench.train import run_arm as train_arm

ARMS = ("trl", "tunesmith")


def make_prompts(n: int, seed: int, words_per_prompt: int = 3) -> list[dict]:
    words = WordChain(seed=1234).words
    rng = random.Random(seed)
    return [{"prompt": "Say the words: " + " ".join(rng.sample(words, words_per_prompt))}
            for _ in range(n)]  # fmt: skip


def summarize(raw: dict) -> dict:
    secs, gen = raw["train_seconds"], raw["generation_seconds"]
    rewards = raw["rewards"]
    half = rewards[len(rewards) // 2 :] or rewards
    return {
        "steps": raw["steps"],
        "train_seconds": secs,
        "steps_per_s": raw["steps"] / max(secs, 1e-9),
        "rollout_tokens_per_s": raw["generated_tokens"] / max(gen, 1e-9),
        "generation_share": gen / max(secs, 1e-9),
        "peak_rss_mb": raw["peak_rss_mb"],
        "reward_first": rewards[0] if rewards else float("nan"),
        "reward_last_half": sum(half) / max(len(half), 1),
        "rewards": rewards,
        "wall_seconds": raw["arm_seconds"],
        "torch_threads": raw["torch_threads"],
    }


ROWS = (
    ("optimizer steps / s", "steps_per_s", "{:.3f}"),
    ("rollout tokens / s", "rollout_tokens_per_s", "{:,.0f}"),
    ("generation share of time", "generation_share", "{:.0%}"),
    ("train seconds", "train_seconds", "{:.1f}"),
    ("peak RSS (MiB)", "peak_rss_mb", "{:,.0f}"),
    ("reward, first step", "reward_first", "{:.3f}"),
    ("reward, mean of last half", "reward_last_half", "{:.3f}"),
)


def print_table(report: dict, console: object) -> None:
    from tunesmith.bench.report import print_two_arms

    print_two_arms("bench rl: TRL GRPOTrainer vs tunesmith (GRPO, LoRA)", ROWS, report, console)
    console.print(
        f"speedup (steps/s) {report['speedup']:.2f}x, rollout tokens/s "
        f"{report['rollout_speedup']:.2f}x, memory ratio {report['rss_ratio']:.2f}, reward "
        f"(last half) difference {report['reward_difference']:+.3f}"
    )


def run_bench(
    json_path: str | None = None, *, model: str = "tiny-deepseek-v3-base", steps: int = 20,
    prompts_per_step: int = 8, group_size: int = 8, max_tokens: int = 32, lr: float = 1e-3,
    beta: float = 0.0, temperature: float = 1.0, threads: int | None = None, seed: int = 42,
    quiet: bool = False,
) -> dict:  # fmt: skip
    """Run both arms; print the table, return (and write) the report."""
    from rich.console import Console

    console = Console(quiet=quiet)
    settings = {
        "model": model, "steps": steps, "prompts_per_step": prompts_per_step,
        "group_size": group_size, "max_tokens": max_tokens, "lr": lr, "beta": beta,
        "temperature": temperature, "seed": seed, "threads": threads or os.cpu_count() or 1,
        "lora_r": 16, "lora_alpha": 32,
        "target_modules": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
        if model.startswith("tiny-deepseek") else ["q_proj", "k_proj", "v_proj", "o_proj"],
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-rl-") as tmp:
        work = Path(tmp)
        train = work / "prompts.jsonl"
        rows = make_prompts(steps * prompts_per_step, seed)
        train.write_text("".join(json.dumps(r) + "\n" for r in rows))
        spec_path = work / "spec.json"
        spec_path.write_text(
            json.dumps({**settings, "train_file": str(train), "work_dir": str(work)}, indent=2)
        )
        raw = {}
        for arm in ARMS:
            with console.status(f"bench rl: {arm} arm, {steps} steps"):
                raw[arm] = train_arm(
                    arm, spec_path, work / f"{arm}.json", settings["threads"],
                    module="tunesmith.bench.rl_arms",
                )  # fmt: skip
    base, ours = summarize(raw["trl"]), summarize(raw["tunesmith"])
    report = {
        "trl": base,
        "tunesmith": ours,
        "speedup": ours["steps_per_s"] / max(base["steps_per_s"], 1e-9),
        "rollout_speedup": ours["rollout_tokens_per_s"] / max(base["rollout_tokens_per_s"], 1e-9),
        "rss_ratio": ours["peak_rss_mb"] / max(base["peak_rss_mb"], 1e-9),
        "reward_difference": ours["reward_last_half"] - base["reward_last_half"],
        "settings": settings,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    print_table(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    return report
