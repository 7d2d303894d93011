# Run: .venv/bin/python scripts/build_tiny_base.py [--docs N] [--lr LR] [--out DIR]
"""Pretrain the shipped tiny DeepSeek-V3-architecture base on a synthetic corpus.

Reproducible: the corpus comes from a seeded generator (tunesmith.data.tag_task) and training
runs through tunesmith's own loop (full fine-tuning of the random-init `tiny-deepseek-v3`
preset, plain-text samples). The result is written as safetensors with its tokenizer to
src/tunesmith/assets/models/tiny-deepseek-v3-base/.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
from pathlib import Path

import torch

from tunesmith.api import train
from tunesmith.data.tag_task import prose_document

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "tunesmith" / "assets" / "models" / "tiny-deepseek-v3-base"


def write_corpus(path: Path, n_docs: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w") as fh:
        for _ in range(n_docs):
            fh.write(json.dumps({"text": prose_document(rng)}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=30000, help="pretraining documents")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        write_corpus(corpus, args.docs, args.seed)
        run_dir = train(
            {
                "model": {"name_or_path": "tiny-deepseek-v3"},
                "data": {"train": [str(corpus)], "format": "text", "max_len": 512},
                "method": {"name": "full"},
                "train": {
                    "epochs": args.epochs,
                    "batch_tokens": 4096,
                    "lr": args.lr,
                    "weight_decay": 0.01,
                    "warmup_ratio": 0.03,
                    "scheduler": "cosine",
                    "seed": args.seed,
                    "log_every": 10,
                    "save_every": 0,
                    "keep_last": 1,
                },
                "eval": {"metrics": ["loss"]},
                "output": {"dir": str(Path(tmp) / "run"), "tensorboard": False},
            }
        )
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.copytree(run_dir / "model", args.out)
        shutil.copy(run_dir / "metrics.jsonl", args.out / "pretrain_metrics.jsonl")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
