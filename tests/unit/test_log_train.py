"""The trainer logs through the same setup: `--log-level debug --log-json --log-file` gives
one JSON record per logged optimizer step, the same values as metrics.jsonl."""

from __future__ import annotations

import json

import yaml

from helpers import tiny_config
from tunesmith.cli.main import main
from tunesmith.log import ENV_FILE, ENV_JSON, ENV_LEVEL


def test_train_steps_reach_the_json_log_file(tmp_path, chat_files, monkeypatch, capsys):
    for name in (ENV_LEVEL, ENV_JSON, ENV_FILE):
        monkeypatch.delenv(name, raising=False)  # the flags export these; undone after
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=3)
    cfg["train"]["log_every"] = 1
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    log_file = tmp_path / "train.log"
    argv = ["--log-level", "debug", "--log-json", "--log-file", str(log_file), "train",
            str(tmp_path / "cfg.yaml")]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    records = [json.loads(x) for x in log_file.read_text().splitlines()]
    steps = [r for r in records if r["logger"] == "tunesmith.train"]
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["message"] for r in steps] == ["step 1", "step 2", "step 3"]
    assert [{k: r[k] for k in m} for r, m in zip(steps, metrics, strict=True)] == metrics
    assert all(r["level"] == "info" for r in steps)


def test_the_default_level_log_file_holds_the_run_not_the_screen(
    tmp_path, chat_files, monkeypatch, capsys
):
    """Issue 15: `--log-file` at the default level was empty during training."""
    for name in (ENV_LEVEL, ENV_JSON, ENV_FILE):
        monkeypatch.delenv(name, raising=False)
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=2)
    cfg["train"]["log_every"] = 1
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    log_file = tmp_path / "train.log"
    assert main(["train", str(tmp_path / "cfg.yaml"), "--log-file", str(log_file)]) == 0
    lines = log_file.read_text().splitlines()
    assert [x.split(": ", 1)[1].split(" ")[:2] for x in lines if " tunesmith.train: " in x] == [
        ["step", "1"],
        ["step", "2"],
    ]
    assert any(" tunesmith.run: data train: " in x for x in lines)
    assert any(" tunesmith.run: method=lora: " in x for x in lines)
    err = capsys.readouterr().err
    assert "tunesmith.train" not in err and "tunesmith.run" not in err
