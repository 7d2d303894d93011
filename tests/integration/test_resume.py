"""`train.resume=auto` after a SIGKILL continues on the uninterrupted run's exact trajectory,
whether the kill lands between checkpoints or in the middle of writing one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from helpers import tiny_config
from tunesmith.training.checkpoint import PAUSE_ENV

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


def cli(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
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


@pytest.fixture(scope="module")
def straight(chat_files, tmp_path_factory) -> Path:
    """The uninterrupted run both tests compare against."""
    root = tmp_path_factory.mktemp("straight")
    proc = cli(str(write_config(root / "a.yaml", chat_files["train"], root / "run")))
    assert proc.wait(timeout=600) == 0, proc.stdout.read()
    return root / "run"


def assert_same_run(straight: Path, killed: Path) -> None:
    want, got = losses(straight), losses(killed)
    assert sorted(got) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert abs(got[step] - want[step]) < 1e-6, (step, got[step], want[step])
    a = load_file(straight / "adapter" / "adapter_model.safetensors")
    b = load_file(killed / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert all((a[k] - b[k]).abs().max() < 1e-6 for k in a)


def test_resume_after_kill_matches_uninterrupted(chat_files, tmp_path, straight) -> None:
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
    assert_same_run(straight, killed)


def test_kill_while_a_checkpoint_is_written(chat_files, tmp_path, straight) -> None:
    """The writer of step 10's checkpoint is held (test hook) after its first file and killed
    there: the half-written checkpoint is never picked, resume continues from step 5, and
    the run ends on the uninterrupted trajectory."""
    killed, paused = tmp_path / "killed", tmp_path / "paused"
    cfg = write_config(tmp_path / "b.yaml", chat_files["train"], killed)
    proc = cli(str(cfg), env_extra={PAUSE_ENV: f"{KILL_AFTER}:{paused}"})
    deadline = time.monotonic() + 600
    while not paused.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert paused.exists(), proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpts = killed / "checkpoints"
    half = ckpts / f".tmp-step-{KILL_AFTER:06d}"
    assert sorted(p.name for p in half.iterdir()) == ["trainable.safetensors"]
    assert sorted(p.name for p in ckpts.iterdir()) == [half.name, "step-000005"]
    assert max(losses(killed)) == KILL_AFTER  # step 10 trained and logged, not saved

    proc = cli(str(cfg), "train.resume=auto")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert f"resumed from {ckpts / 'step-000005'} at step 5" in out
    assert not half.exists()  # the next save cleared it
    assert_same_run(straight, killed)
