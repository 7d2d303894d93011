"""recipe=grpo end to end on the shipped tiny base and the tag task (examples/data/tags-rl).

- a run logs rewards, advantages' inputs, KL against the adapter-disabled reference, clip
  fractions, rollout speed and the held-out rewards (step 0 = before training), writes
  rewards.png and samples.log, and its losses are pinned;
- resume after SIGKILL regenerates the same rollouts: rewards and losses equal the
  uninterrupted run's (two updates per rollout batch: importance ratios against the
  rollout's log-probs);
- two processes (DDP on CPU), each rolling out half the prompts, follow one process on the
  same global batch;
- bad settings stop before anything is written (vllm on CPU, prompts that do not split).
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
from tunesmith.errors import ConfigError

DATA = Path(__file__).resolve().parents[2] / "examples" / "data" / "tags-rl"
TARGETS = ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]


VOWELS = """
def vowels(prompts, completions, **fields):
    return [sum(c.count(v) for v in "aeiou") / 10 for c in completions]
"""


def config(out: Path, **grpo: object) -> dict:
    rewards = out.parent / "rewards.py"
    rewards.write_text(VOWELS)
    return {
        "recipe": "grpo",
        "model": {"name_or_path": "tiny-deepseek-v3-base"},
        "data": {"train": [str(DATA / "train.jsonl")], "validation": [str(DATA / "validation.jsonl")],
                 "max_len": 64},
        "method": {"name": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": TARGETS}},
        "grpo": {"group_size": 4, "prompts_per_step": 4, "max_completion_length": 10,
                 "temperature": 1.5, "rewards": [f"{rewards}:vowels", "accuracy"], "beta": 0.05,
                 "eval_samples": 2, "prefix_block_size": 4, **grpo},
        "train": {"max_steps": 4, "lr": 5e-3, "scheduler": "constant", "seed": 0, "progress": False},
        "eval": {"max_samples": 4},
        "output": {"dir": str(out), "tensorboard": False, "plot": False},
    }  # fmt: skip


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def with_dir(cfg: dict, out: Path) -> dict:
    return {**cfg, "output": {**cfg["output"], "dir": str(out)}}


def test_run_logs_rewards_kl_and_heldout(tmp_path):
    cfg = config(tmp_path / "run")
    cfg["output"]["plot"] = True
    run = train(cfg)
    rows = records(run)
    assert rows[0]["step"] == 0 and "eval_rewards/accuracy" in rows[0]  # before training
    steps = [r for r in rows if r["step"] > 0]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    for key in ("reward", "reward_std", "rewards/vowels/mean", "rewards/accuracy/mean", "kl",
                "clip_ratio/region_mean", "entropy", "completions/mean_length",
                "completions/clipped_ratio", "frac_reward_zero_std", "rollout_tokens_per_s",
                "rollout_seconds", "update_seconds", "prefill_shared_frac"):  # fmt: skip
        assert key in steps[0], key
    assert steps[0]["kl"] == 0.0 and steps[-1]["kl"] > 0.0  # policy == reference at first
    assert steps[0]["prefill_shared_frac"] > 0.5  # 3 of 4 completions load the prompt
    assert any(r["loss"] != 0.0 for r in steps)
    assert "eval_reward" in steps[-1]
    assert (run / "rewards.png").is_file() and (run / "adapter").is_dir()
    log = (run / "samples.log").read_text()
    assert log.startswith("=== step 0:") and "=== step 4:" in log and "completion:" in log
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["grpo"]["reference"] == "adapter"


def cli(*args: str, nproc: int = 0) -> subprocess.Popen:
    extra = ["--nproc", str(nproc)] if nproc else []
    return subprocess.Popen(
        [sys.executable, "-m", "tunesmith", "train", *args, *extra],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def test_resume_after_kill_regenerates_the_same_rollouts(tmp_path):
    steps, kill_after = 6, 2
    cfg = config(tmp_path / "x", num_iterations=2)
    cfg["train"].update(max_steps=steps, save_every=2, keep_last=10)
    straight = train(with_dir(cfg, tmp_path / "straight"))

    killed = tmp_path / "killed"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(with_dir(cfg, killed)))
    proc = cli(str(path))
    marker = killed / "checkpoints" / f"step-{kill_after:06d}"
    deadline = time.monotonic() + 300
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"

    proc = cli(str(path), "train.resume=auto")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "resumed from" in out
    want = {r["step"]: r for r in records(straight) if r["step"] > 0}
    got = {r["step"]: r for r in records(killed) if r["step"] > 0}
    assert sorted(got) == list(range(1, steps + 1))
    for step, a in want.items():
        b = got[step]
        for key in ("loss", "reward", "rewards/accuracy/mean", "kl", "completions/mean_length"):
            assert abs(a[key] - b[key]) < 1e-6, (step, key, a[key], b[key])
    name = "adapter/adapter_model.safetensors"
    a, b = load_file(straight / name), load_file(killed / name)
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)


def test_two_processes_follow_one(tmp_path):
    cfg = config(tmp_path / "x")
    cfg["train"]["max_steps"] = 3
    one = train(with_dir({**cfg, "train": {**cfg["train"], "grad_accum": 2}}, tmp_path / "one"))
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(with_dir(cfg, tmp_path / "two")))
    proc = cli(str(path), "distributed.strategy=ddp", nproc=2)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    want, got = records(one), records(tmp_path / "two")
    assert [r["step"] for r in got] == [0, 1, 2, 3]
    for a, b in zip(want, got, strict=True):
        for key in ("loss", "reward", "kl", "completions/mean_length", "eval_reward"):
            if key in a:
                assert abs(a[key] - b[key]) <= 1e-4 * max(1.0, abs(a[key])), (a["step"], key)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"rollout_backend": "vllm"}, "grpo.rollout_backend: vllm is not available"),
        ({"prompts_per_step": 3, "num_iterations": 2}, None),
        ({"reward_weights": [1.0]}, "grpo.reward_weights: 1 weights for 2 reward functions"),
        ({"rewards": ["nope"]}, "nope"),
    ],
)
def test_bad_settings_stop_before_writing(override, message, tmp_path):
    cfg = config(tmp_path / "run", **override)
    if message is None:  # save_every not between rollout batches
        cfg["train"]["save_every"] = 3
        message = "train.save_every: 3 is not a multiple of grpo.num_iterations (2)"
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train(cfg)
    assert not (tmp_path / "run").exists()
