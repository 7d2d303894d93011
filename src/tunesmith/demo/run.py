"""`tunesmith demo`: the main job on the embedded default.

LoRA fine-tune the shipped tiny DeepSeek-V3 base on the built-in reasoning task, measure
exact match on a held-out split before and after, show generations, serve the adapter over
the OpenAI-compatible API and ask it one held-out question, write summary.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from peft import PeftModel
from rich.console import Console
from rich.table import Table

from tunesmith.api import train
from tunesmith.config.schema import EvalConfig, ModelConfig
from tunesmith.data.load import load_conversations
from tunesmith.data.tag_task import N_TEST, N_TRAIN, chat_dataset
from tunesmith.demo.serve_smoke import serve_smoke
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.runtime import announce_threads
from tunesmith.training.evaluate import eval_exact_match

BASE = "tiny-deepseek-v3-base"


def demo_config(data_dir: Path, run_dir: Path) -> dict:
    return {
        "model": {"name_or_path": BASE},
        "data": {"train": [str(data_dir / "train.jsonl")], "max_len": 256},
        "method": {
            "name": "lora",
            "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "trainable_tokens": ["all-special"]},
        },
        "train": {
            "epochs": 6,
            "batch_tokens": 512,
            "lr": 5e-3,
            "warmup_ratio": 0.05,
            "scheduler": "cosine",
            "seed": 0,
            "log_every": 5,
        },
        "eval": {"metrics": ["loss"]},
        "output": {"dir": str(run_dir), "overwrite": True},
    }


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_demo(output_dir: str | Path = "runs/demo") -> dict:
    announce_threads()  # first line: how many CPU threads this run uses
    console = Console()
    out = Path(output_dir)
    data_dir, run_dir = out / "data", out / "run"
    train_rows, test_rows = chat_dataset(N_TRAIN, N_TEST, seed=0)
    _write_jsonl(data_dir / "train.jsonl", train_rows)
    _write_jsonl(data_dir / "test.jsonl", test_rows)
    test = load_conversations([data_dir / "test.jsonl"]).conversations
    eval_cfg = EvalConfig(max_new_tokens=64, batch_size=50)

    console.rule("[bold]1/4 base model on the held-out split")
    model, tok = load_model_and_tokenizer(ModelConfig(name_or_path=BASE))
    em_before, rows_before = eval_exact_match(model, tok, test, eval_cfg)
    console.print(f"exact match before fine-tuning: {em_before:.2%}")

    console.rule("[bold]2/4 LoRA fine-tune")
    started = time.perf_counter()
    train(demo_config(data_dir, run_dir))
    train_seconds = time.perf_counter() - started

    console.rule("[bold]3/4 fine-tuned model on the held-out split")
    tuned = PeftModel.from_pretrained(model, run_dir / "adapter")
    em_after, rows_after = eval_exact_match(tuned, tok, test, eval_cfg)

    table = Table(title="generations (held-out)")
    for col in ("question", "reference", "before", "after"):
        table.add_column(col, overflow="fold")
    for conv, b, a in list(zip(test, rows_before, rows_after, strict=True))[:4]:
        table.add_row(
            conv.messages[0].content, a["reference"], b["prediction"][:80], a["prediction"]
        )
    console.print(table)

    console.rule("[bold]4/4 serve the fine-tuned model (OpenAI API) and ask it once")
    question = test[0].messages[0].content
    served = serve_smoke(run_dir, question)
    console.print(f"POST /v1/chat/completions -> {served['status']}")
    console.print(f"  user:      {question}")
    console.print(f"  reasoning: [dim]{served['reasoning']}[/dim]")
    console.print(f"  answer:    {served['answer']}   (reference: {rows_after[0]['reference']})")

    summary = {
        "em_before": em_before,
        "em_after": em_after,
        "em_gain": em_after - em_before,
        "train_seconds": train_seconds,
        "run_dir": str(run_dir),
        "adapter": str(run_dir / "adapter"),
        "n_train": N_TRAIN,
        "n_test": N_TEST,
        "served": served,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    result = Table(title="tunesmith demo")
    result.add_column("metric")
    result.add_column("value", justify="right")
    result.add_row("exact match before", f"{em_before:.2%}")
    result.add_row("exact match after", f"{em_after:.2%}")
    result.add_row("train seconds", f"{train_seconds:.1f}")
    result.add_row("served answer", f"{served['answer']!r} (HTTP {served['status']})")
    result.add_row("run dir", str(run_dir))
    console.print(result)
    return summary
