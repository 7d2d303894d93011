"""`tunesmith bench preference`: TRL's DPOTrainer against tunesmith's preference recipe.

    tunesmith bench preference --json bench_preference.json

Both arms DPO-train the same preset with the same LoRA, beta, lr, cosine schedule, seed and
number of optimizer steps, for one epoch over the same seeded pairs whose token lengths are
long-tailed (as `bench train`): "Repeat the list exactly: ..." answered by the exact copy
(chosen) or a copy with a fifth of its words replaced (rejected). TRL runs with its defaults:
pairs padded to the longest of each batch, the reference forward every step (for a PEFT
model, TRL's reference is the adapter-disabled base, as ours). tunesmith packs chosen and
rejected sequences padding-free into rows of about `row_tokens`, with gradient accumulation
making up the same pairs per step. Each arm runs in its own subprocess
(bench/preference_arms.py); both score their final adapter with the same code.

Reported per arm: real tokens/s (prompt + answer tokens of both sequences of every pair,
counted once per epoch, over training seconds), peak RSS, final train loss (mean of the last
tenth of steps), held-out reward accuracy and margin, pairwise accuracy; and the ratios.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
from dataclasses import asdict
from pathlib import Path

from tunesmith.bench.report import tail_mean
from tunesmith.bench.spec import ArmSpec
from tunesmith.bench.synth import LengthSpec, WordChain, length_stats, make_conversations
from tunesmith.bench.train import plan_spec
from tunesmith.bench.train import run_arm as train_arm

ARMS = ("trl", "tunesmith")


def make_pairs(tok: object, *, budget_tokens: int, seed: int, lengths: LengthSpec) -> list[dict]:
    """Preference records (prompt / chosen / rejected as messages) of about `budget_tokens`
    chosen-conversation tokens."""
    convs, _ = make_conversations(tok, budget_tokens=budget_tokens, seed=seed, lengths=lengths)
    rng, words = random.Random(seed + 7), WordChain(seed=1234).words
    rows = []
    for conv in convs:
        prompt, answer = conv.messages[0].content, conv.messages[1].content.split()
        wrong = [w if rng.random() > 0.2 else rng.choice(words) for w in answer]
        if wrong == answer:
            wrong[rng.randrange(len(wrong))] = rng.choice([w for w in words if w != answer[0]])
        rows.append({
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": " ".join(answer)}],
            "rejected": [{"role": "assistant", "content": " ".join(wrong)}],
        })  # fmt: skip
    return rows


def _write(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_arm(arm: str, spec_path: Path, out: Path, threads: int) -> dict:
    return train_arm(arm, spec_path, out, threads, module="tunesmith.bench.preference_arms")


def summarize(raw: dict, real_tokens: int) -> dict:
    secs = raw["train_seconds"]
    return {
        "real_tokens": real_tokens,
        "real_tokens_per_s": real_tokens / max(secs, 1e-9),
        "steps": raw["steps"],
        "train_seconds": secs,
        "wall_seconds": raw["arm_seconds"],
        "peak_rss_mb": raw["peak_rss_mb"],
        "final_train_loss": tail_mean(raw["step_losses"]),
        "heldout_reward_accuracy": raw["heldout_reward_accuracy"],
        "heldout_pairwise_accuracy": raw["heldout_pairwise_accuracy"],
        "heldout_margin": raw["heldout_margin"],
        "torch_threads": raw["torch_threads"],
        **({"trl_num_tokens": raw["trl_num_tokens"]} if raw.get("trl_num_tokens") else {}),
    }


ROWS = (
    ("real tokens / s", "real_tokens_per_s", "{:,.0f}"),
    ("optimizer steps", "steps", "{:,}"),
    ("train seconds", "train_seconds", "{:.1f}"),
    ("peak RSS (MiB)", "peak_rss_mb", "{:,.0f}"),
    ("final train loss", "final_train_loss", "{:.4f}"),
    ("held-out reward accuracy", "heldout_reward_accuracy", "{:.3f}"),
    ("held-out pairwise accuracy", "heldout_pairwise_accuracy", "{:.3f}"),
    ("held-out reward margin", "heldout_margin", "{:.4f}"),
)


def print_table(report: dict, console: object) -> None:
    from tunesmith.bench.report import print_two_arms

    print_two_arms(
        "bench preference: TRL DPOTrainer vs tunesmith (DPO, LoRA)", ROWS, report, console
    )
    console.print(
        f"speedup (real tokens/s) {report['speedup']:.2f}x, memory ratio "
        f"{report['rss_ratio']:.2f}, held-out reward accuracy difference "
        f"{report['accuracy_points']:+.1f} points"
    )


def run_bench(
    json_path: str | None = None, *, budget_tokens: int = 60_000, heldout_tokens: int = 8_000,
    model: str = "tiny-qwen2", batch_size: int = 8, row_tokens: int = 1024, beta: float = 0.1,
    lr: float = 5e-4, threads: int | None = None, seed: int = 42, quiet: bool = False,
) -> dict:  # fmt: skip
    """Run both arms; print the table, return (and write) the report."""
    from rich.console import Console

    from tunesmith.data.preference import load_preference
    from tunesmith.tokenize.preference import encode_records
    from tunesmith.tokenize.templates import load_tokenizer

    console = Console(quiet=quiet)
    lengths = LengthSpec(max_len=512)
    tok = load_tokenizer()
    train = make_pairs(tok, budget_tokens=budget_tokens, seed=seed, lengths=lengths)
    held = make_pairs(tok, budget_tokens=heldout_tokens, seed=seed + 1, lengths=lengths)
    with tempfile.TemporaryDirectory(prefix="tunesmith-bench-pref-") as tmp:
        work = Path(tmp)
        spec = ArmSpec(
            train_file=str(_write(train, work / "train.jsonl")),
            heldout_file=str(_write(held, work / "heldout.jsonl")),
            work_dir=str(work), model=model, seed=seed, threads=threads or os.cpu_count() or 1,
            max_len=2 * lengths.max_len, batch_size=batch_size, lr=lr,
        )  # fmt: skip
        items = encode_records(tok, load_preference([spec.train_file]).records, spec.max_len)
        sizes = [item.length for item in items]
        spec = plan_spec(sizes, spec, row_tokens)
        spec_path = work / "spec.json"
        spec_path.write_text(json.dumps({**asdict(spec), "beta": beta}, indent=2))
        raw = {}
        for arm in ARMS:
            with console.status(f"bench preference: {arm} arm, {len(items):,} pairs"):
                raw[arm] = run_arm(arm, spec_path, work / f"{arm}.json", spec.threads)
    real = sum(sizes)
    base, ours = summarize(raw["trl"], real), summarize(raw["tunesmith"], real)
    report = {
        "trl": base,
        "tunesmith": ours,
        "speedup": ours["real_tokens_per_s"] / base["real_tokens_per_s"],
        "rss_ratio": ours["peak_rss_mb"] / base["peak_rss_mb"],
        "accuracy_points": 100 * (ours["heldout_reward_accuracy"] - base["heldout_reward_accuracy"]),
        "settings": {
            "model": model, "pairs": len(items), "train_data": length_stats(sizes),
            "heldout_pairs": len(held), "beta": beta, "lr": lr, "scheduler": spec.scheduler,
            "lora": {"r": spec.lora_r, "alpha": spec.lora_alpha, "dropout": spec.lora_dropout,
                     "target_modules": spec.target_modules},
            "trl_batch_size": batch_size, "tunesmith_batch_tokens": spec.batch_tokens,
            "tunesmith_grad_accum": spec.grad_accum, "seed": seed, "torch_threads": spec.threads,
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        },
    }  # fmt: skip
    print_table(report, console)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    return report
