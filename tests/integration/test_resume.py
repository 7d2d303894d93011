"""`train.resume=auto` after a SIGKILL continues on the uninterrupted run's exact trajectory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from safetensors.torch import load_file

from helpers import tiny_config

STEPS, SAVE_EVERY, KILL_AFTER = 40, 5, 10


def write_config(path: Path, train_file: Path, out: Path) -> Path:
    cfg = tiny_config(
        "tiny-qwen2",
        "lora",
        train_file,
        out,
        max_steps=STEPS,
        save_every=SAVE_EVERY,
        scheduler="cosine",
        warmup_steps=3,
        batch_tokens=256,
    )
    cfg["method"]["lora"]["dropout"] = 0.1  # dropout draws from the RNG: resume must restore it
    cfg["data"]["max_len"] = 96
    path.write_text(yaml.safe_dump(cfg))
    return path


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows}


def test_resume_after_kill_matches_uninterrupted(chat_files, tmp_path) -> None:
    straight = tmp_path / "straight"
    proc = cli(str(write_config(tmp_path / "a.yaml", chat_files["train"], straight)))
    assert proc.wait(timeout=600) == 0, proc.stdout.read()

    killed = tmp_path / "killed"
    proc = cli(str(write_config(tmp_path / "b.yaml", chat_files["train"], killed)))
    marker = killed / "checkpoints" / f"step-{KILL_AFTER:06d}"
    deadline = time.monotonic() + 600
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (killed / "adapter").exists()
    done = max(losses(killed))
    assert KILL_AFTER <= done < STEPS

    proc = cli(str(tmp_path / "b.yaml"), "train.resume=auto")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    resumed_from = int(out.split("resumed from ")[1].split("step-")[1][:6])
    assert KILL_AFTER <= resumed_from <= done

    want, got = losses(straight), losses(killed)
    assert sorted(got) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(got[step] - want[step]) < 1e-6, (step, got[step], want[step])
    a = load_file(straight / "adapter" / "adapter_model.safetensors")
    b = load_file(killed / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max() < 1e-6 for k in a)
