"""Detached jobs: a `tunesmith` command started in its own session, recorded in a directory,
so it outlives the UI and a restarted UI finds it again.

    <dir>/ui_job.json   argv, command line, cwd, pid of the runner, start time
    <dir>/ui_job.log    stdout + stderr of the command
    <dir>/ui_job.exit   exit code, whether Stop asked for it, end time (written by the runner)

The runner (`python -m tunesmith.ui.job_runner DIR -- ARGV...`) waits on the command and
writes the exit file; Stop sends SIGTERM to the runner, which interrupts the command's
process group (torchrun and its ranks too). No shell anywhere: argv lists only.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

JOB, LOG, EXIT = "ui_job.json", "ui_job.log", "ui_job.exit"
_children: dict[int, subprocess.Popen] = {}  # runners started by this UI process (reaped here)


@dataclass
class JobState:
    status: str  # running, finished, failed, interrupted, none
    pid: int | None = None
    returncode: int | None = None
    command: str = ""
    argv: list[str] | None = None
    started: float | None = None
    ended: float | None = None


def launch(job_dir: Path, argv: list[str], cwd: Path, command: str | None = None) -> int:
    """Start `argv` detached with its record in `job_dir`; returns the runner's pid."""
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / EXIT).unlink(missing_ok=True)
    runner = [sys.executable, "-m", "tunesmith.ui.job_runner", str(job_dir), "--", *argv]
    proc = subprocess.Popen(
        runner,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    _children[proc.pid] = proc
    for _ in range(100):  # until exec: before it, /proc shows this process's command line
        if _alive(proc.pid, job_dir) or proc.poll() is not None:
            break
        time.sleep(0.01)
    record = {
        "argv": argv,
        "command": command or shlex.join(argv),
        "cwd": str(cwd),
        "pid": proc.pid,
        "started": time.time(),
    }
    tmp = job_dir / (JOB + ".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(job_dir / JOB)  # atomic for readers
    return proc.pid


def _alive(pid: int, job_dir: Path) -> bool:
    """The runner of `job_dir` is still there (not a zombie, not a reused pid)."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return str(job_dir).encode() in cmdline


def read_job(job_dir: Path) -> JobState:
    try:
        record = json.loads((job_dir / JOB).read_text())
    except (OSError, ValueError):
        return JobState("none")
    state = JobState(
        "running",
        pid=record.get("pid"),
        command=record.get("command", ""),
        argv=record.get("argv"),
        started=record.get("started"),
    )
    alive = bool(state.pid) and _alive(state.pid, job_dir)  # before reading the exit file:
    done = _read_exit(job_dir)  # a runner gone by now wrote it first (if it could)
    if done is not None:
        state.returncode, state.ended = done.get("returncode"), done.get("ended")
        if state.returncode == 0:
            state.status = "finished"
        else:
            state.status = "interrupted" if done.get("stopped") else "failed"
    elif not alive:
        state.status = "interrupted"  # the runner itself was killed
    return state


def _read_exit(job_dir: Path) -> dict | None:
    try:
        return json.loads((job_dir / EXIT).read_text())
    except (OSError, ValueError):
        return None


def stop(job_dir: Path) -> bool:
    """Ask the runner to interrupt its command; False when nothing is running."""
    state = read_job(job_dir)
    if state.status != "running" or not state.pid:
        return False
    os.kill(state.pid, signal.SIGTERM)
    return True


def wait(job_dir: Path, timeout: float = 30.0) -> JobState:
    """Poll until the job is no longer running (tests and scripts)."""
    deadline = time.monotonic() + timeout
    state = read_job(job_dir)
    while state.status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        state = read_job(job_dir)
    return state


def log_tail(job_dir: Path, lines: int = 60) -> str:
    path = job_dir / LOG
    if not path.is_file():
        return ""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode("utf-8", "replace")
    # progress bars redraw with \r: keep the last state of each line
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines()[-lines:])
