# Run: .venv/bin/python scripts/busy_neighbour.py --before /path/to/old/.venv/bin/tunesmith
"""Training time on a quiet machine and beside CPU-bound neighbours, before and after.

For each tunesmith executable given (`--before`, `--after`; default: this checkout's), run
the demo (or `--train CONFIG [KEY=VALUE ...]`) once on a quiet machine and once while
`--neighbours` processes spin on the CPUs, and print the training seconds and the slowdown.
The demo's figure is `train_seconds` from its summary.json; `--train` is timed whole.
Numbers mean something only on a machine nothing else uses (docs/benchmarks.md).

    scripts/busy_neighbour.py --before ../main/.venv/bin/tunesmith        # the demo
    scripts/busy_neighbour.py --train configs/tiny-qwen2/lora.yaml train.max_steps=5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(sys.executable).parent / "tunesmith"


def _spin() -> None:
    x = 0
    while True:  # a CPU-bound neighbour: never sleeps, never does I/O
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def _clean_env() -> dict[str, str]:
    """No thread settings of ours: each build chooses as it would for a user."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "TUNESMITH_"))}


def run_once(exe: str, train: list[str] | None, out: Path) -> float:
    if train:
        cmd = [exe, "train", *train, f"output.dir={out / 'run'}", "output.overwrite=true"]
    else:
        cmd = [exe, "demo", "--output", str(out)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    threads = [line for line in proc.stderr.splitlines() if "threads:" in line]
    if threads:
        print(f"    {threads[0].split('tunesmith: ', 1)[-1]}")
    if train:
        return wall
    return float(json.loads((out / "summary.json").read_text())["train_seconds"])


def measure(exe: str, train: list[str] | None, neighbours: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        quiet = run_once(exe, train, Path(tmp) / "quiet")
        procs = [mp.Process(target=_spin, daemon=True) for _ in range(neighbours)]
        for p in procs:
            p.start()
        try:
            busy = run_once(exe, train, Path(tmp) / "busy")
        finally:
            for p in procs:
                p.terminate()
                p.join()
    return quiet, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="EXE", help="tunesmith executable of the old build")
    parser.add_argument("--after", metavar="EXE", default=str(HERE), help="(default: this one)")
    parser.add_argument("--neighbours", type=int, default=1, help="CPU-bound processes")
    parser.add_argument("--train", nargs="+", metavar="ARG", help="time `train ARG...` instead")
    args = parser.parse_args()
    arms = [("before", args.before), ("after", args.after)]
    rows = []
    for name, exe in arms:
        if exe is None:
            continue
        print(f"{name}: {exe}")
        quiet, busy = measure(exe, args.train, args.neighbours)
        rows.append((name, quiet, busy))
    what = "train wall s" if args.train else "demo train_seconds"
    print(f"\n{what}, {args.neighbours} CPU-bound neighbour(s), {os.cpu_count()} CPUs")
    print(f"{'build':<8}{'quiet':>10}{'busy':>10}{'slowdown':>10}")
    for name, quiet, busy in rows:
        print(f"{name:<8}{quiet:>10.1f}{busy:>10.1f}{busy / quiet:>9.1f}x")


if __name__ == "__main__":
    main()
