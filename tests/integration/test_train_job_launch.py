"""The torchrun command the cluster jobs write (`deploy k8s --train`, `deploy slurm`) runs
as written on this machine: one node, one CPU process (DDP over gloo; 2-process equivalence
is tests/integration/test_distributed.py's), c10d rendezvous on localhost. A second launch with more steps (a restarted job) continues from the first's
last checkpoint (train.resume=auto) instead of starting over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import yaml

from helpers import tiny_config
from tunesmith.config.jobs import SlurmTrainSettings
from tunesmith.deploy.train_job import plan_job, torchrun_args


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(tmp_path, max_steps: int) -> list[str]:  # noqa: ANN001
    """The job's torchrun arguments for the config with `max_steps`, rendezvous on localhost."""
    s = SlurmTrainSettings(
        train=str(tmp_path / "train.yaml"),
        train_overrides=["distributed.strategy=ddp", f"train.max_steps={max_steps}"],
        nodes=1,
        gpus_per_node=0,
        output=str(tmp_path / "job"),
    )
    job = plan_job(s)
    (tmp_path / "resolved.yaml").write_text(job.config_yaml)
    args = torchrun_args(
        job,
        s,
        endpoint=f"127.0.0.1:{_free_port()}",
        rdzv_id="test",
        config=str(tmp_path / "resolved.yaml"),
    )
    assert args[:2] == ["--nnodes=1", "--nproc-per-node=1"] and args[-1] == "train.resume=auto"
    return [sys.executable, "-m", "torch.distributed.run", *args]


def _launch(cmd: list[str]) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_the_job_command_trains_and_resumes(chat_files, tmp_path):
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", save_every=2)
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert _launch(_command(tmp_path, 3)).strip().endswith(str(run))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-000002",
        "step-000003",
    ]
    # the job restarted with more steps: train.resume=auto continues from step 3 (the last
    # checkpoint) instead of training from scratch or refusing the non-empty run dir
    _launch(_command(tmp_path, 4))
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").open()]
    assert steps == [1, 2, 3, 4]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["steps"] == 4
    assert summary["distributed"] == {"strategy": "ddp", "processes": 1}
