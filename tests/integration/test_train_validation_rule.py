"""Overriding data.train but not data.validation: the config's validation file belongs to the
config's own data, so training holds out part of the user's data instead and says so."""

from __future__ import annotations

import json

import yaml

from helpers import tiny_config, write_jsonl
from tunesmith.cli.main import main
from tunesmith.data.tag_task import chat_dataset


def test_overridden_train_data_gets_its_own_validation_split(chat_files, tmp_path, capsys):
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=2)
    cfg["data"]["validation"] = [str(chat_files["validation"])]  # as the presets do
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    mine, _ = chat_dataset(30, 0, seed=5)
    mydata = write_jsonl(tmp_path / "mydata.jsonl", mine)

    assert main(["train", str(path), f"data.train=[{mydata}]"]) == 0
    err = capsys.readouterr().err
    assert (
        "note: data.train was overridden but data.validation was not: the config's "
        f"validation data ({chat_files['validation']}) is not used; holding out 10% of "
        "data.train for validation. Set data.validation=[FILE] to choose it, or "
        "data.validation=[] data.val_split=0 for none"
    ) in err
    data = json.loads((tmp_path / "run" / "train_summary.json").read_text())["data"]
    assert (data["train"]["records"], data["validation"]["records"]) == (27, 3)
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]
    assert (saved["validation"], saved["val_split"]) == ([], 0.1)


def test_both_overridden_or_none_keeps_the_config(chat_files, tmp_path, capsys):
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=1)
    cfg["data"]["validation"] = [str(chat_files["validation"])]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    argv = ["train", str(path), f"data.train=[{chat_files['train']}]"]
    assert main([*argv, f"data.validation=[{chat_files['validation']}]"]) == 0
    assert "note:" not in capsys.readouterr().err
    data = json.loads((tmp_path / "run" / "train_summary.json").read_text())["data"]
    assert (data["train"]["records"], data["validation"]["records"]) == (64, 16)
