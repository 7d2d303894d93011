"""The output of `tunesmith data prepare` feeds `tunesmith train` as it is."""

from __future__ import annotations

import json

import yaml

from helpers import tiny_config, write_jsonl
from tunesmith.cli.main import main
from tunesmith.data.tag_task import chat_dataset


def test_prepared_splits_train_directly(tmp_path) -> None:
    train, _ = chat_dataset(120, 0, seed=5)
    raw = write_jsonl(tmp_path / "raw.jsonl", train + train[:10])  # 10 exact duplicates
    out = tmp_path / "prepared"
    assert main(["data", "prepare", "--input", str(raw), "--output", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["records_in"] == 130 and report["dropped"]["exact_duplicate"] >= 10

    cfg = tiny_config("tiny-qwen2", "lora", out / "train.jsonl", tmp_path / "run", max_steps=2)
    cfg["data"]["validation"] = [str(out / "validation.jsonl")]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(tmp_path / "cfg.yaml")]) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and "eval_loss" in rows[-1]
