"""The demo's last step: serve the fine-tuned adapter over the OpenAI API and ask it once.

Starts `tunesmith serve --model RUN_DIR` in a subprocess on a free local port, waits for
`/ready`, sends one `/v1/chat/completions` request, then stops the server with SIGTERM (its
drain path) and checks it exited cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tunesmith.errors import TunesmithError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_smoke(run_dir: Path, question: str, timeout_s: float = 180.0) -> dict:
    """{"reasoning", "answer", "usage", "status"} of one chat completion from the server."""
    port = free_port()
    cmd = [sys.executable, "-m", "tunesmith", "serve", "--model", str(run_dir)]
    cmd += ["--served-model-name", "demo", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise TunesmithError(f"demo: the server exited early:\n{proc.stdout.read()}")
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TunesmithError("demo: the server did not become ready")
            time.sleep(0.25)
        reply = httpx.post(
            f"{base}/v1/chat/completions",
            json={
                "model": "demo",
                "messages": [{"role": "user", "content": question}],
                "max_tokens": 64,
                "temperature": 0,
            },
            timeout=timeout_s,
        )
        body = reply.json()
        if reply.status_code != 200:
            raise TunesmithError(f"demo: the server answered {reply.status_code}: {body}")
        message = body["choices"][0]["message"]
        return {
            "status": reply.status_code,
            "reasoning": message.get("reasoning_content"),
            "answer": message["content"],
            "usage": body["usage"],
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
