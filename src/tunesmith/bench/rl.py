"""`tunesmith bench rl`: TRL's GRPOTrainer against tunesmith's grpo recipe.

    tunesmith bench rl --json bench_rl.json

The R1 recipe on the shipped tiny base, as docs/rl.md's example: a short SFT cold start
teaches the `<think>` format (run once, merged; both arms start from it), then both arms
GRPO-train that model on the tag task ("What is the tag of layer?", answer checked after
`</think>`) with the same LoRA, prompts, rewards (`think_format` + `accuracy`), group size,
generation length, temperature, beta, lr (constant), seed and number of optimizer steps,
one rollout batch per step (TRL: per_device_train_batch_size = prompts x group,
steps_per_generation 1). TRL generates with transformers `generate` (vLLM needs a GPU);
tunesmith with its engine on the live weights. Each stage runs in its own subprocess.

Reported per arm: optimizer steps / s, rollout tokens / s (generated tokens, stop tokens
included, over generation seconds), the generation share of training time, peak RSS, the
reward curve (mean total reward per step, 2.0 at most) and its mean over the last half;
and the ratios.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
from pathlib import Path

from tunesmith.bench.train import run_arm as train_arm
from tunesmith.data.tag_task import N_TRAIN_KEYS, coldstart_records, rl_records, tag_table

ARMS = ("trl", "tunesmith")
COLDSTART_RECORDS = 24


def make_prompts(n: int, seed: int) -> list[dict]:
    """`n` tag questions about the training keys (every template), seeded order."""
    rows = rl_records(list(tag_table())[:N_TRAIN_KEYS])
    random.Random(seed).shuffle(rows)
    return [rows[i % len(rows)] for i in range(n)]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _last_half(rewards: list[float]) -> float:
    half = rewards[len(rewards) // 2 :] or rewards
    return sum(half) / max(len(half), 1)


def summarize(runs: list[dict]) -> dict:
    """One arm over its runs (one per seed): times and tokens summed, rewards averaged
    step by step; reward_last_half_std is the spread of the per-seed last-half means."""
    secs = sum(r["train_seconds"] for r in runs)
    gen = sum(r["generation_seconds"] for r in runs)
    steps = sum(r["steps"] for r in runs)
    curves = [r["rewards"] for r in runs]
    width = min(len(c) for c in curves)
    mean_curve = [sum(c[i] for c in curves) / len(curves) for i in range(width)]
    per_seed = [_last_half(c) for c in curves]
    mean = sum(per_seed) / len(per_seed)
    spread = (sum((x - mean) ** 2 for x in per_seed) / max(len(per_seed) - 1, 1)) ** 0.5
    return {
        "steps": steps,
        "train_seconds": secs,
        "steps_per_s": steps / max(secs, 1e-9),
        "rollout_tokens_per_s": sum(r["generated_tokens"] for r in runs) / max(gen, 1e-9),
        "generation_share": gen / max(secs, 1e-9),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "reward_first": mean_curve[0] if mean_curve else float("nan"),
        "reward_last_half": mean,
        "reward_last_half_std": spread if len(runs) > 1 else float("nan"),
        "reward_last_half_per_seed": per_seed,
        "rewards": mean_curve,
        "wall_seconds": sum(r["arm_seconds"] for r in runs),
        "cpu_cores_busy": sum(r["arm_cpu_seconds"] for r in runs)
        / max(sum(r["arm_seconds"] for r in runs), 1e-9),
        "torch_threads": runs[0]["torch_threads"],
    }


ROWS = (
    ("optimizer steps / s", "steps_per_s", "{:.3f}"),
    ("rollout tokens / s", "rollout_tokens_per_s", "{:,.0f}"),
    ("generation share of time", "generation_share", "{:.0%}"),
    ("train seconds", "train_seconds", "{:.1f}"),
    ("peak RSS (MiB)", "peak_rss_mb", "{:,.0f}"),
    ("CPU use (cores busy, whole arm)", "cpu_cores_busy", "{:.2f}"),
    ("reward, first step (of 2)", "reward_first", "{:.3f}"),
    ("reward, mean of last half", "reward_last_half", "{:.3f}"),
    ("  its spread over seeds (std)", "reward_last_half_std", "{:.3f}"),
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
    prompts_per_step: int = 8, group_size: int = 8, max_tokens: int = 24, lr: float = 2e-3,
    beta: float = 0.0, temperature: float = 1.0, threads: int | None = None, seed: int = 42,
    seeds: int = 1, quiet: bool = False,
) -> dict:  # fmt: skip
    """Run both arms (`seeds` times each: seed, seed + 1, ...); print the table, return
    (and write) the report."""
    from rich.console import Console

    console = Console(quiet=quiet)
    settings = {
        "base_model": model, "coldstart_steps": 16, "steps": steps,
        "prompts_per_step": prompts_per_step, "group_size": group_size, "max_tokens": max_tokens, "lr": lr, "beta": beta,
        "temperature": temperature, "seed": seed, "threads": threads or os.cpu_count() or 1,
        "lora_r": 16, "lora_alpha": 32,
        "target_modules": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
        if model.startswith("tiny-deepseek") else ["q_proj", "k_proj", "v_proj", "o_proj"],
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-rl-") as tmp:
        work = Path(tmp)
        spec = {
            **settings, "work_dir": str(work), "start_model": str(work / "start-model"),
            "coldstart_file": str(
                _write_jsonl(work / "coldstart.jsonl", coldstart_records(COLDSTART_RECORDS))
            ),
        }  # fmt: skip
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps(spec, indent=2))
        with console.status("bench rl: SFT cold start (the model both arms start from)"):
            start = train_arm(
                "coldstart", spec_path, work / "coldstart.json", settings["threads"],
                module="tunesmith.bench.rl_arms",
            )  # fmt: skip
        raw: dict[str, list[dict]] = {arm: [] for arm in ARMS}
        for k in range(seeds):
            s = seed + k
            rows = make_prompts(steps * prompts_per_step, s)
            spec.update(seed=s, model=start["model"], work_dir=str(work / f"seed{s}"),
                        train_file=str(_write_jsonl(work / f"prompts-{s}.jsonl", rows)))  # fmt: skip
            Path(spec["work_dir"]).mkdir()
            spec_path.write_text(json.dumps(spec, indent=2))
            for arm in ARMS:
                with console.status(f"bench rl: {arm} arm, seed {s}, {steps} steps"):
                    raw[arm].append(train_arm(
                        arm, spec_path, work / f"{arm}-{s}.json", settings["threads"],
                        module="tunesmith.bench.rl_arms",
                    ))  # fmt: skip
    base, ours = summarize(raw["trl"]), summarize(raw["tunesmith"])
    report = {
        "trl": base,
        "tunesmith": ours,
        "speedup": ours["steps_per_s"] / max(base["steps_per_s"], 1e-9),
        "rollout_speedup": ours["rollout_tokens_per_s"] / max(base["rollout_tokens_per_s"], 1e-9),
        "rss_ratio": ours["peak_rss_mb"] / max(base["peak_rss_mb"], 1e-9),
        "reward_difference": ours["reward_last_half"] - base["reward_last_half"],
        "settings": {**settings, "seeds": seeds},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    print_table(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
    return report
