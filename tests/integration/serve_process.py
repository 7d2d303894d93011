"""`tunesmith serve` in a subprocess on the tiny base, up and answering /health."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx

BASE = "tiny-deepseek-v3-base"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_process(*options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """(base url, process) of `tunesmith serve --model BASE OPTIONS` once /health answers;
    killed on exit if still running. Its output (stdout and stderr) is `process.stdout`."""
    port = free_port()
    cmd = [sys.executable, "-m", "tunesmith", "serve", "--model", BASE, "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--threads", "1", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{proc.stdout.read()}")
            time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
