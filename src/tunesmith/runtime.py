"""CPU threads for torch / OpenMP: as many as this process may really use, and no spinning
against a busy neighbour.

    plan = configure_threads()          # before torch is imported (the CLI does this first)
    plan = configure_threads(threads=4) # the --threads flag
    print(plan.describe())              # "threads: 2 (CPU affinity: 2 of 8 CPUs) ..."

torch's default is one OpenMP thread per CPU the machine has, whether or not a container's
CPU quota (cgroup `cpu.max` / `cpu.cfs_quota_us`) lets the process use them, and libgomp
threads spin while they wait for work. On a machine another job keeps busy the spinning
threads take turns with it and with each other: the demo's training took 17x longer, not
the ~2.5x its share of CPU explains. So:

- threads = the CPUs in this process's affinity mask, capped by the cgroup CPU quota
  (rounded up), split between the processes of a local distributed launch;
  `--threads N` or a user-set `OMP_NUM_THREADS` wins;
- the OpenMP wait policy from the load measured at start (unless the user set
  `OMP_WAIT_POLICY`): /proc/stat is sampled for 0.1 s; when other un-niced processes keep at
  least half a CPU of ours busy, `PASSIVE` (idle threads sleep: beside a CPU-bound neighbour
  the training run is 5x faster than with spinning threads); on a quiet machine a short spin,
  `ACTIVE` with `GOMP_SPINCOUNT=10000` (1.8x faster than PASSIVE there, and a neighbour that
  starts later costs 3x, not the 8x of libgomp's default spin). Niced work (`nice -n 19`)
  does not count: it yields its CPU to spinning threads. One thread has no team to wait for:
  PASSIVE, without probing. libgomp reads the variables once, when torch loads it, so this
  must run before the first `import torch` (the CLI's `main` does; `describe()` says when it
  was too late). Figures: docs/benchmarks.md, "A busy machine".
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_THREADS, ENV_WAIT, ENV_SPIN = "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"
SHORT_SPIN = "10000"
"""GOMP_SPINCOUNT of the quiet-machine policy (libgomp's default is 300000; ACTIVE alone is
unbounded)."""
BUSY_CPUS = 0.5
"""Other processes' load (in CPUs) from which the threads wait passively."""
PROBE_SECONDS = 0.1
PROC_STAT = Path("/proc/stat")
ENV_AUTO = "TUNESMITH_AUTO_THREADS"
"""Set beside OMP_NUM_THREADS when tunesmith (not the user) chose the count, so a child
process (a torchrun rank) chooses again for its own share instead of inheriting it."""

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def affinity_cpus() -> int:
    """CPUs this process may be scheduled on (taskset, cpuset, numactl)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """(cgroup v2 path, cgroup v1 cpu-controller path) of this process."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, path = parts
        if hier == "0" and controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(base: Path, rel: str) -> list[Path]:
    """base/rel and every parent up to base (a quota anywhere above us applies too)."""
    parts = [p for p in rel.strip("/").split("/") if p]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota in CPUs (e.g. 1.5), the smallest along this process's cgroup path, or
    None when there is none. Reads v2 `cpu.max` ("max 100000" / "150000 100000") and v1
    `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1: none)."""
    v2, v1 = _cgroup_paths(proc_cgroup)
    limits: list[float] = []
    if v2 is not None:
        for d in _ancestors(root, v2):
            text = _read(d / "cpu.max")
            if text:
                quota, _, period = text.partition(" ")
                if quota != "max" and period:
                    limits.append(int(quota) / int(period))
    if v1 is not None:
        for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
            for d in _ancestors(root / mount, v1):
                quota, period = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
                if quota and period and int(quota) > 0 and int(period) > 0:
                    limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> tuple[int, str]:
    """(CPUs this process can use, where that number came from)."""
    cpus, machine = affinity_cpus(), os.cpu_count() or 1
    why = f"CPU affinity: {cpus} of {machine} CPUs"
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None and math.ceil(quota) < cpus:
        cpus = max(1, math.ceil(quota))
        why = f"cgroup CPU quota {quota:g} of {machine} CPUs"
    return cpus, why


def _busy_and_total(stat: Path, cpus: set[int]) -> tuple[int, int] | None:
    """Summed (busy, all) jiffies of `cpus` from /proc/stat; busy leaves out idle, iowait
    and niced user time."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    busy = total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        busy += user + system + irq + softirq + steal
        total += user + nice + system + idle + iowait + irq + softirq + steal
    return (busy, total) if total else None


def other_load(seconds: float = PROBE_SECONDS, stat: Path = PROC_STAT) -> float | None:
    """How many of this process's CPUs un-niced processes keep busy, sampled over `seconds`
    while this process sleeps (None where /proc/stat cannot be read)."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        cpus = set(range(os.cpu_count() or 1))
    first = _busy_and_total(stat, cpus)
    time.sleep(seconds)
    second = _busy_and_total(stat, cpus)
    if first is None or second is None or second[1] <= first[1]:
        return None
    return len(cpus) * (second[0] - first[0]) / (second[1] - first[1])


def _wait_policy(env: dict[str, str], threads: int, probe: Callable[[], float | None]) -> str:
    """Set OMP_WAIT_POLICY (and GOMP_SPINCOUNT) in `env` from the measured load; returns the
    policy's description."""
    if threads <= 1:
        env[ENV_WAIT] = "PASSIVE"
        return "passive"
    load = probe()
    if load is None or load >= BUSY_CPUS:
        env[ENV_WAIT] = "PASSIVE"
        seen = "load unknown" if load is None else f"other processes busy on {load:.1f} CPUs"
        return f"passive ({seen})"
    env[ENV_WAIT] = "ACTIVE"
    env.setdefault(ENV_SPIN, SHORT_SPIN)
    return f"short spin, GOMP_SPINCOUNT={env[ENV_SPIN]} (quiet: others busy on {load:.1f} CPUs)"


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text or "")
    except ValueError:
        return None
    return value if value > 0 else None


def openmp_loaded() -> bool:
    """Whether an OpenMP runtime is already mapped into this process (then OMP_* changes in
    the environment no longer reach it)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "torch" in sys.modules
    return any(name in maps for name in ("libgomp", "libiomp5", "libomp."))


@dataclass(frozen=True)
class ThreadPlan:
    threads: int
    source: str
    """why this many: the flag, OMP_NUM_THREADS, or the CPUs available"""
    wait_policy: str
    """OMP_WAIT_POLICY in effect: PASSIVE, ACTIVE, or 'default' (libgomp loaded before we
    could set it)"""
    why: str = ""
    """how the policy was chosen, when tunesmith chose it (the measured load)"""

    def describe(self) -> str:
        policy = self.why or self.wait_policy.lower()
        return f"threads: {self.threads} ({self.source}); OpenMP wait policy: {policy}"


def configure_threads(
    threads: int | None = None,
    env: dict[str, str] | None = None,
    *,
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_CGROUP,
    probe: Callable[[], float | None] = other_load,
) -> ThreadPlan:
    """Choose the thread count and wait policy, export them to `env` (default: os.environ,
    so child processes inherit them) and, for os.environ, apply them to torch if it is
    already imported. `probe` measures other processes' load (in CPUs)."""
    live = env is None
    env = os.environ if env is None else env  # type: ignore[assignment]
    user = _positive_int(env.get(ENV_THREADS))
    auto = env.get(ENV_AUTO)
    if live and threads is None and "torch" in sys.modules:
        return _calling_programs_choice(env)
    if threads is not None:
        count, source = threads, "--threads"
        env.pop(ENV_AUTO, None)
    elif user is not None and env.get(ENV_THREADS) != auto:
        count, source = user, f"{ENV_THREADS}={user}"
    else:
        count, source = available_cpus(root, proc_cgroup)
        procs = _positive_int(env.get("LOCAL_WORLD_SIZE")) or 1
        if procs > 1:
            count = max(1, count // procs)
            source += f", shared by {procs} local processes"
        env[ENV_AUTO] = str(count)
    env[ENV_THREADS] = str(count)
    late = live and openmp_loaded()  # `env` for a child process: its own OpenMP loads later
    why = ""
    if ENV_WAIT in env:
        policy = env[ENV_WAIT].upper()
    elif late:
        policy = "default"
    else:
        why = _wait_policy(env, count, probe)
        policy = env[ENV_WAIT]
    plan = ThreadPlan(threads=count, source=source, wait_policy=policy, why=why)
    if live:
        global _plan, _announced
        _plan, _announced = plan, False
        if "torch" in sys.modules:
            import torch

            if torch.get_num_threads() != count:
                torch.set_num_threads(count)
    return plan


_plan: ThreadPlan | None = None
_announced = False


def _calling_programs_choice(env: dict[str, str]) -> ThreadPlan:
    """main() called from a program that already imported torch (the Python API, tests): its
    thread count stands and its environment is left as it is."""
    import torch

    global _plan, _announced
    policy = env.get(ENV_WAIT, "default").upper()
    _plan = ThreadPlan(torch.get_num_threads(), "torch's setting in the calling program", policy)
    _announced = False
    return _plan


def announce_threads() -> None:
    """Log the configured plan once per process (rank 0 only) when the work starts: the
    progress module calls this as it shows its first bar or line, after every input was
    checked, so bad input still fails with its one `error:` line."""
    global _announced
    if _plan is None or _announced or os.environ.get("RANK", "0") != "0":
        return
    _announced = True
    logging.getLogger("tunesmith").info(_plan.describe())
