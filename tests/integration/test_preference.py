"""recipe=preference end to end on the shipped preference pairs (examples/data/tags-preference).

- every loss trains (paired losses on pairs, kto on the unpaired file) and logs its metrics;
- resume after SIGKILL follows the uninterrupted run exactly (LoRA: the adapter-disabled
  reference; full: the cached reference, read back rather than recomputed);
- two processes (DDP, DeepSpeed ZeRO-2 on CPU) follow the one-process curve on the same
  global batch (2 x 1 micro-batches against 1 x 2).
"""

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

from tunesmith.api import train

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "tags-preference"
PAIR_KEYS = {
    "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
    "logps/chosen", "logps/rejected", "pairwise_accuracy",
}  # fmt: skip


def config(out: Path, *, loss: str = "dpo", method: str = "lora", **train: object) -> dict:
    return {
        "recipe": "preference",
        "model": {"name_or_path": "tiny-qwen2"},
        "data": {
            "train": [str(DATA / ("kto.jsonl" if loss == "kto" else "train.jsonl"))],
            "validation": [] if loss == "kto" else [str(DATA / "validation.jsonl")],
            "max_len": 64,
        },
        "method": {"name": method, "lora": {"r": 8, "alpha": 16, "dropout": 0.0}},
        "preference": {"loss": loss, **({"label_smoothing": 0.1} if loss == "robust" else {})},
        "train": {
            "max_steps": 4, "batch_tokens": 256, "lr": 3e-3, "scheduler": "constant", "seed": 0,
            "progress": False, **train,
        },
        "output": {"dir": str(out), "tensorboard": False, "plot": False},
    }  # fmt: skip


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("loss", ["dpo", "robust", "ipo", "hinge", "kto", "orpo", "simpo", "cpo"])
def test_every_loss_trains_and_logs_its_metrics(loss, tmp_path):
    run = train(config(tmp_path / loss, loss=loss))
    rows = records(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    first, last = rows[0], rows[-1]
    if loss == "kto":
        assert {"kl", "rewards/desirable", "rewards/undesirable"} <= first.keys()
    else:
        assert first.keys() >= PAIR_KEYS
        assert {f"eval_{k}" for k in PAIR_KEYS} <= last.keys()
        assert 0.0 <= last["eval_pairwise_accuracy"] <= 1.0
    if loss in ("dpo", "robust", "kto"):  # a fresh adapter is the reference: log-ratio 0
        assert first["loss"] == pytest.approx(
            0.6931471805599453 if loss != "kto" else 0.5, abs=1e-6
        )
    if loss in ("orpo", "cpo"):
        assert first["nll_loss"] > 0
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["recipe"] == "preference"
    assert summary["preference"]["reference"] == (
        "none" if loss in ("orpo", "simpo", "cpo") else "adapter"
    )
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


def cli(*args: str, nproc: int = 0) -> subprocess.Popen:
    extra = ["--nproc", str(nproc)] if nproc else []
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "train", *args, *extra],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def run_until(proc: subprocess.Popen, marker: Path) -> None:
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in records(run)}


@pytest.mark.parametrize("method", ["lora", "full"])
def test_resume_after_kill_matches_uninterrupted(method, tmp_path):
    steps, kill_after = 12, 4
    cfg = config(tmp_path / "x", method=method, max_steps=steps, save_every=2, keep_last=20,
                 lr=1e-3 if method == "full" else 3e-3, scheduler="cosine", warmup_steps=2)  # fmt: skip
    cfg["method"]["lora"]["dropout"] = 0.1  # dropout draws from the RNG: resume restores it
    straight = train({**cfg, "output": {**cfg["output"], "dir": str(tmp_path / "straight")}})

    killed = tmp_path / "killed"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({**cfg, "output": {**cfg["output"], "dir": str(killed)}}))
    proc = cli(str(path))
    run_until(proc, killed / "checkpoints" / f"step-{kill_after:06d}")
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done = max(losses(killed))
    assert kill_after <= done < steps
    cache = killed / "reference_logps.safetensors"
    stamp = cache.stat().st_mtime_ns if method == "full" else None

    proc = cli(str(path), "train.resume=auto")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "resumed from" in out
    if method == "full":
        assert "reference: cached log-probs read from" in out and cache.stat().st_mtime_ns == stamp
    want, got = losses(straight), losses(killed)
    assert sorted(got) == list(range(1, steps + 1))
    for step in want:
        assert abs(got[step] - want[step]) < 1e-6, (step, got[step], want[step])
    name = "adapter/adapter_model.safetensors" if method == "lora" else "model/model.safetensors"
    a, b = load_file(straight / name), load_file(killed / name)
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)


@pytest.mark.parametrize(
    "extra",
    [["distributed.strategy=ddp"], ["distributed.strategy=deepspeed", "distributed.zero_stage=2"]],
    ids=["ddp", "zero2"],
)
def test_two_processes_follow_one(extra, tmp_path):
    steps = 6
    cfg = config(tmp_path / "x", max_steps=steps, scheduler="cosine", warmup_steps=1)
    one = train({**cfg, "train": {**cfg["train"], "grad_accum": 2},
                 "output": {**cfg["output"], "dir": str(tmp_path / "one")}})  # fmt: skip
    path = tmp_path / "cfg.yaml"
    path.write_text(
        yaml.safe_dump({**cfg, "output": {**cfg["output"], "dir": str(tmp_path / "two")}})
    )
    proc = cli(str(path), *extra, nproc=2)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    want, got = records(one), records(tmp_path / "two")
    assert [r["step"] for r in got] == list(range(1, steps + 1))
    for a, b in zip(want, got, strict=True):
        for key in ("loss", "rewards/margins", "rewards/accuracies"):
            assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (
                a["step"],
                key,
                a[key],
                b[key],
            )
    assert abs(want[-1]["eval_loss"] - got[-1]["eval_loss"]) <= 1e-4
