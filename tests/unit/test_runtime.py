"""Thread count from the CPUs the process may really use; passive OpenMP waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import tiny_config
from tunesmith import runtime
from tunesmith.runtime import ENV_AUTO, available_cpus, cgroup_cpu_limit, configure_threads

CHILD = """
import json, os, sys
from tunesmith.runtime import configure_threads
plan = configure_threads()
import torch
print(json.dumps({"plan": plan.threads, "torch": torch.get_num_threads(),
                  "wait": os.environ.get("OMP_WAIT_POLICY"), "line": plan.describe()}))
"""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "TUNESMITH_"))}
    env.pop("LOCAL_WORLD_SIZE", None)
    return env


def _pin_to_cpu0() -> None:
    os.sched_setaffinity(0, {0})


def test_threads_follow_affinity_in_a_pinned_process() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=_clean_env(),
        preexec_fn=_pin_to_cpu0,
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["plan"] == 1
    assert got["torch"] == 1  # torch itself runs one thread, not one per machine CPU
    assert got["wait"] == "PASSIVE"
    assert got["line"] == (
        f"threads: 1 (CPU affinity: 1 of {os.cpu_count()} CPUs); OpenMP wait policy: passive"
    )


def test_cli_prints_the_thread_line_when_work_starts(tmp_path: Path, chat_files) -> None:
    cfg = tiny_config("tiny-qwen2", "lora", chat_files["train"], tmp_path / "run", max_steps=1)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli.main", "train", str(tmp_path / "cfg.yaml")],
        env=_clean_env(),
        preexec_fn=_pin_to_cpu0,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stderr.splitlines()[0].endswith(
        f"INFO tunesmith: threads: 1 (CPU affinity: 1 of {os.cpu_count()} CPUs); "
        "OpenMP wait policy: passive"
    )


def test_threads_flag_and_user_env_win(tmp_path: Path) -> None:
    env = {"OMP_NUM_THREADS": "3"}
    plan = configure_threads(env=env)
    assert (plan.threads, plan.source) == (3, "OMP_NUM_THREADS=3")
    assert ENV_AUTO not in env
    plan = configure_threads(5, env=env)
    assert (plan.threads, plan.source, env["OMP_NUM_THREADS"]) == (5, "--threads", "5")
    env = {"OMP_WAIT_POLICY": "active", "OMP_NUM_THREADS": "2"}
    assert configure_threads(env=env).wait_policy == "ACTIVE"  # the user's choice stays


def test_chosen_count_is_split_again_in_local_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "affinity_cpus", lambda: 8)
    none = Path("/nonexistent")
    parent: dict[str, str] = {}
    assert configure_threads(env=parent, root=none, proc_cgroup=none).threads == 8
    rank = {**parent, "LOCAL_WORLD_SIZE": "2"}  # torchrun rank inherits the parent's choice
    plan = configure_threads(env=rank, root=none, proc_cgroup=none)
    assert plan.threads == 4
    assert plan.source.endswith("shared by 2 local processes")


def _fake_cgroup_v2(tmp_path: Path, cpu_max: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in cpu_max.items():
        d = root / rel
        d.mkdir(parents=True, exist_ok=True)
        (d / "cpu.max").write_text(text + "\n")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/kubepods/pod1/ctr\n")
    return root, proc


def test_cgroup_v2_quota_smallest_along_the_path(tmp_path: Path) -> None:
    root, proc = _fake_cgroup_v2(
        tmp_path, {"": "max 100000", "kubepods/pod1": "250000 100000", "kubepods/pod1/ctr": "max"}
    )
    assert cgroup_cpu_limit(root, proc) == 2.5
    root, proc = _fake_cgroup_v2(tmp_path / "b", {"kubepods/pod1/ctr": "max 100000"})
    assert cgroup_cpu_limit(root, proc) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    d = tmp_path / "cgroup" / "cpu,cpuacct" / "docker" / "abc"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("150000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    assert cgroup_cpu_limit(tmp_path / "cgroup", proc) == 1.5
    (d / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(tmp_path / "cgroup", proc) is None


def test_quota_caps_the_affinity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "affinity_cpus", lambda: 16)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    root, proc = _fake_cgroup_v2(tmp_path, {"": "150000 100000"})
    assert available_cpus(root, proc) == (2, "cgroup CPU quota 1.5 of 64 CPUs")
    env: dict[str, str] = {}
    plan = configure_threads(env=env, root=root, proc_cgroup=proc)
    assert plan.describe().startswith("threads: 2 (cgroup CPU quota 1.5 of 64 CPUs)")
    assert env["OMP_NUM_THREADS"] == "2" and env[ENV_AUTO] == "2"


def test_bad_input_fails_without_the_thread_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tunesmith.cli.main",
            "--threads",
            "2",
            "profile",
            "--model",
            str(tmp_path / "missing"),
        ],  # fmt: skip
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and "threads:" not in out.stderr


def test_threads_flag_rejects_zero() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tunesmith.cli.main", "--threads", "0", "models"],
        env=_clean_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "argument --threads: '0': expected a whole number of threads >= 1" in out.stderr


def _stat(tmp_path: Path, rows: dict[int, tuple[int, ...]]) -> Path:
    """A /proc/stat with per-CPU rows (user nice system idle iowait irq softirq steal)."""
    text = "cpu  1 2 3 4 5 6 7 8 0 0\n" + "".join(
        f"cpu{i} {' '.join(map(str, row))} 0 0\n" for i, row in rows.items()
    )
    path = tmp_path / "stat"
    path.write_text(text + "intr 5 0 0\n")
    return path


def test_busy_time_leaves_out_idle_iowait_and_niced_work(tmp_path: Path) -> None:
    stat = _stat(tmp_path, {0: (10, 500, 20, 100, 7, 1, 2, 3), 1: (5, 0, 5, 90, 0, 0, 0, 0)})
    assert runtime._busy_and_total(stat, {0, 1}) == (10 + 20 + 1 + 2 + 3 + 5 + 5, 643 + 100)
    assert runtime._busy_and_total(stat, {1}) == (10, 100)  # CPUs outside affinity ignored
    assert runtime._busy_and_total(tmp_path / "missing", {0}) is None


def test_wait_policy_follows_the_measured_load() -> None:
    busy: dict[str, str] = {"OMP_NUM_THREADS": "2"}
    plan = configure_threads(env=busy, probe=lambda: 1.4)
    assert (plan.wait_policy, busy["OMP_WAIT_POLICY"], "GOMP_SPINCOUNT" in busy) == (
        "PASSIVE",
        "PASSIVE",
        False,
    )
    assert plan.describe() == (
        "threads: 2 (OMP_NUM_THREADS=2); "
        "OpenMP wait policy: passive (other processes busy on 1.4 CPUs)"
    )
    quiet: dict[str, str] = {"OMP_NUM_THREADS": "2"}
    plan = configure_threads(env=quiet, probe=lambda: 0.1)
    assert (quiet["OMP_WAIT_POLICY"], quiet["GOMP_SPINCOUNT"]) == ("ACTIVE", "10000")
    assert plan.describe().endswith(
        "short spin, GOMP_SPINCOUNT=10000 (quiet: others busy on 0.1 CPUs)"
    )
    own = {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "500"}
    configure_threads(env=own, probe=lambda: 0.0)
    assert own["GOMP_SPINCOUNT"] == "500"  # the user's spin count stays
    unknown: dict[str, str] = {"OMP_NUM_THREADS": "2"}
    assert "load unknown" in configure_threads(env=unknown, probe=lambda: None).describe()
    assert unknown["OMP_WAIT_POLICY"] == "PASSIVE"

    def never() -> float:
        raise AssertionError("one thread needs no probe")

    single: dict[str, str] = {"OMP_NUM_THREADS": "1"}
    assert configure_threads(env=single, probe=never).describe().endswith("policy: passive")


def test_a_cpu_bound_neighbour_is_seen_by_the_probe() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time

        time.sleep(0.3)  # past interpreter start-up
        load = runtime.other_load(seconds=0.5)
    finally:
        spinner.kill()
        spinner.wait()
    assert load is not None and load >= runtime.BUSY_CPUS
