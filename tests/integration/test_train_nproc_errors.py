"""`tunesmith train CONFIG --nproc 2` with bad input: the one-line error once, exit 2, nothing
else (no copy per rank, no torchrun traceback, SIGTERM notice or elastic docs link), and no
run directory left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from helpers import tiny_config


def launch(cfg: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "tunesmith", "train", str(cfg), *overrides, "--nproc", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def write_config(tmp_path: Path, train_file: Path) -> Path:
    cfg = tiny_config("tiny-qwen2", "lora", train_file, tmp_path / "run", max_steps=2)
    cfg["distributed"] = {"strategy": "ddp"}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_missing_model_is_reported_once_before_any_process_starts(chat_files, tmp_path):
    proc = launch(write_config(tmp_path, chat_files["train"]), "model.name_or_path=/no/model")
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: model.name_or_path: '/no/model' is neither a preset (tiny-deepseek-v3, "
        "tiny-deepseek-v3-base, tiny-llama, tiny-qwen2) nor an existing directory\n"
    )
    assert proc.stdout == ""
    assert not (tmp_path / "run").exists()


def test_error_inside_the_ranks_is_reported_once(tmp_path):
    """A bad record is found by each rank (the launcher does not read the data): both ranks
    fail alike, the launcher prints the message once."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"instruction": "Say hi.", "output": "hi"}\n{"instruction": "x", "output": ""}\n'
    )
    proc = launch(write_config(tmp_path, bad))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"error: {bad}:2: field 'output': assistant answer is empty (expected non-empty text)\n"
    )
    assert proc.stdout == ""
    assert not (tmp_path / "run").exists()
