"""Progress when output is not a terminal: plain lines at a steady interval."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import yaml

from helpers import tiny_config
from tunesmith.progress import ENV_INTERVAL, EvalProgress, PlainProgress, status


def test_training_prints_plain_lines_into_a_pipe(tmp_path, chat_files) -> None:
    cfg = tiny_config("tiny-deepseek-v3", "lora", chat_files["train"], tmp_path / "run")
    cfg["train"].update(max_steps=3, progress=True)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli.main", "train", str(tmp_path / "cfg.yaml")],
        env={**os.environ, "OMP_NUM_THREADS": "1", ENV_INTERVAL: "0"},
        capture_output=True,  # stdout is a pipe, not a terminal
        text=True,
        check=True,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("train ")]
    assert [x.split(" | ")[0] for x in lines] == [
        "train 1/3 (33%)",
        "train 2/3 (67%)",
        "train 3/3 (100%)",
    ]
    fields = [x.split(" | ") for x in lines]
    assert fields[0][1] == "loss 8.5088"  # the pinned first-step loss (test_train_e2e)
    assert fields[0][2].startswith("tokens/s ") and int(fields[0][2][9:].replace(",", "")) > 0
    assert fields[0][3].startswith("elapsed 0:") and fields[0][4].startswith("ETA 0:")
    assert not any(f.startswith("ETA") for f in fields[2])  # done: no ETA
    assert "\x1b[" not in proc.stdout  # no terminal control codes in a file


def test_interval_limits_the_lines() -> None:
    out = io.StringIO()
    with PlainProgress(out, interval=3600) as p:
        task = p.add_task("eval generate", total=10)
        for _ in range(10):
            p.advance(task)
    lines = out.getvalue().splitlines()
    assert [x.split(" | ")[0] for x in lines] == [
        "eval generate 1/10 (10%)",
        "eval generate 10/10 (100%)",
    ]


def test_unknown_total_and_removed_task() -> None:
    out = io.StringIO()
    with PlainProgress(out, interval=0) as p:
        task = p.add_task("pass 1/2: dedupe", total=None)
        p.update(task, description="pass 1/2: dedupe: 5,000 records")
        p.remove_task(task)
    assert out.getvalue().splitlines() == [
        "pass 1/2: dedupe: 5,000 records | elapsed 0:00:00",
        "pass 1/2: dedupe: 5,000 records | elapsed 0:00:00",
    ]


def test_eval_progress_on_a_captured_stderr(capsys, monkeypatch) -> None:
    monkeypatch.setenv(ENV_INTERVAL, "0")
    with EvalProgress(enabled=True) as bars:
        advance = bars.task("generate", total=4)
        advance(2)
        advance(2)
    err = capsys.readouterr().err.splitlines()
    assert [x.split(" | ")[0] for x in err] == [
        "eval generate 2/4 (50%)",
        "eval generate 4/4 (100%)",
    ]
    with EvalProgress(enabled=False) as bars:
        bars.task("loss", total=2)(2)
    assert capsys.readouterr().err == ""


def test_status_lines_when_not_a_terminal(capsys, monkeypatch) -> None:
    monkeypatch.setenv(ENV_INTERVAL, "0")
    with status("bench train: tunesmith arm, run 1/2"):
        pass
    assert capsys.readouterr().err.splitlines() == [
        "bench train: tunesmith arm, run 1/2",
        "bench train: tunesmith arm, run 1/2 | done in 0:00:00",
    ]
