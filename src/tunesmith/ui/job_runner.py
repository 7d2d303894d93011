"""Runs one UI job: `python -m tunesmith.ui.job_runner DIR -- ARGV...` (see jobs.py).

Waits on ARGV (its own process group, output to DIR/ui_job.log) and writes DIR/ui_job.exit.
SIGTERM or SIGINT here interrupts the command's whole group with SIGINT (Ctrl-C: the
command stops cleanly), then SIGKILL if it has not exited after GRACE seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE = 10.0


def main(argv: list[str]) -> int:
    job_dir, sep, command = Path(argv[0]), argv[1], argv[2:]
    if sep != "--" or not command:
        print("usage: python -m tunesmith.ui.job_runner DIR -- ARGV...", file=sys.stderr)
        return 2
    stopped = False
    with (job_dir / "ui_job.log").open("ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, process_group=0
        )

        def interrupt(signum: int, frame: object) -> None:
            nonlocal stopped
            stopped = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)

        signal.signal(signal.SIGTERM, interrupt)
        signal.signal(signal.SIGINT, interrupt)
        stopped_at = None
        while True:
            try:
                returncode = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopped and stopped_at is None:
                    stopped_at = time.monotonic()
                if stopped_at is not None and time.monotonic() - stopped_at > GRACE:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
    record = {"returncode": returncode, "stopped": stopped, "ended": time.time()}
    tmp = job_dir / "ui_job.exit.tmp"
    tmp.write_text(json.dumps(record))
    tmp.replace(job_dir / "ui_job.exit")  # atomic: a reader sees all of it or nothing
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
