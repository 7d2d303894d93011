"""`tunesmith serve --engine-process`: serves, and a dying engine core ends the stream with an
error event, turns /ready to 503 and makes the server exit 1 instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_core_process_serves_then_its_death_fails_requests_and_exits_1() -> None:
    port = _port()
    cmd = [
        *(sys.executable, "-m", "tunesmith", "serve", "--model", "tiny-qwen2"),
        *("--port", str(port), "--threads", "1", "--engine-process", "--log-level", "warning"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.3)
        body = {"model": "tiny-qwen2", "prompt": [5, 6, 7], "max_tokens": 4, "temperature": 0}
        r = httpx.post(url + "/v1/completions", json=body, timeout=60)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 4
        children = psutil.Process(proc.pid).children()
        core = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
        assert len(core) == 1
        stream = {**body, "max_tokens": 1500, "stream": True}
        lines = []
        with httpx.stream("POST", url + "/v1/completions", json=stream, timeout=60) as r:
            for line in r.iter_lines():
                if line:
                    lines.append(line)
                if len(lines) == 3:
                    os.kill(core[0].pid, signal.SIGKILL)
        ready = httpx.get(url + "/ready", timeout=5)
        assert r.status_code == 200 and lines[-1] == "data: [DONE]"
        err = json.loads(lines[-2][6:])["error"]
        assert "the engine core process died (exit code -9)" in err["message"]
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "engine_dead"
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
