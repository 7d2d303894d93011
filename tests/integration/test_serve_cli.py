"""`tunesmith serve` (SIGTERM drain), `generate` and `chat` end to end on the tiny base."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tunesmith.cli.main import main

BASE = "tiny-deepseek-v3-base"
THREADS = ["--threads", "1"]


@pytest.fixture(autouse=True)
def restore_threads():
    """`--threads 1` sets torch's thread count for this process: put it back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_drains_in_flight_and_refuses_new_with_503() -> None:
    port = _port()
    cmd = [
        sys.executable,
        "-m",
        "tunesmith",
        "serve",
        "--model",
        BASE,
        "--port",
        str(port),
        "--drain-seconds",
        "60",
        "--log-level",
        "warning",
        *THREADS,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        body = {
            "model": BASE,
            "prompt": "The tag of time",
            "max_tokens": 300,
            "ignore_eos": True,
            "temperature": 0,
            "stream": True,
        }
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line).startswith("data: {")
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while httpx.get(url + "/ready").status_code != 503:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            r503 = httpx.post(url + "/v1/completions", json={**body, "stream": False})
            rest = [line for line in lines if line]
        assert r503.status_code == 503
        assert r503.json()["error"]["code"] == "server_draining"
        assert rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][6:])["choices"][0]["finish_reason"] == "length"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _generate(prompts: Path, out: Path, *options: str) -> int:
    argv = ["generate", "--model", BASE, "--input", str(prompts), "--output", str(out)]
    return main([*argv, *options, *THREADS])


def test_generate_writes_answers_in_input_order(tmp_path: Path, capsys) -> None:
    prompts = tmp_path / "prompts.jsonl"
    rows = [
        {"id": 1, "prompt": "The tag of time is"},
        {"id": 2, "messages": [{"role": "user", "content": "What is the tag of time?"}]},
        {"id": 3, "prompt": "The tag of water is"},
    ]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    assert _generate(prompts, out, "--max-tokens", "6", "--stop", "\n") == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == [1, 2, 3]
    assert got[0]["output"] == got[0]["output"].split("\n")[0]
    assert got[1]["content"] is not None and "reasoning_content" in got[1]
    for g in got:
        assert g["finish_reason"] in ("stop", "length")
        assert (
            g["usage"]["total_tokens"]
            == g["usage"]["prompt_tokens"] + g["usage"]["completion_tokens"]
        )
    assert "generated 3 answers" in capsys.readouterr().err


def test_generate_names_the_bad_line(tmp_path: Path, capsys) -> None:
    prompts = tmp_path / "bad.jsonl"
    prompts.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n')
    assert _generate(prompts, tmp_path / "o.jsonl") == 2
    assert f"{prompts}:2: no prompt (expected a non-empty 'prompt'" in capsys.readouterr().err


def test_chat_streams_turns_until_exit(monkeypatch, capsys) -> None:
    lines = iter(["What is the tag of time?", "/reset", "/exit"])
    monkeypatch.setattr("builtins.input", lambda _: next(lines))
    assert main(["chat", "--model", BASE, "--max-tokens", "5", *THREADS]) == 0
    assert capsys.readouterr().out.strip() != ""


def test_vllm_backend_on_cpu_is_a_clear_error(capsys) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["serve", "--model", BASE, "--backend", "vllm"]) == 2
    assert "--backend vllm needs a CUDA GPU" in capsys.readouterr().err


def test_vllm_command_hands_over_model_and_adapters(tmp_path: Path) -> None:
    from tunesmith.models.registry import PRESETS
    from tunesmith.serve.vllm_backend import vllm_command

    adapter = tmp_path / "sql"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    cmd = vllm_command(
        BASE,
        [f"sql={adapter}"],
        served_name="base",
        host="0.0.0.0",
        port=9000,
        api_key="k",
        max_batch=16,
        max_model_len=None,
    )
    assert cmd == [
        "vllm", "serve", str(PRESETS[BASE].path()), "--host", "0.0.0.0", "--port", "9000",
        "--served-model-name", "base", "--max-num-seqs", "16", "--api-key", "k",
        "--enable-lora", "--lora-modules", f"sql={adapter}",
    ]  # fmt: skip


def test_serve_rejects_a_bad_adapter_spec(capsys) -> None:
    assert main(["serve", "--model", BASE, "--adapter", "nodir"]) == 2
    assert "--adapter 'nodir': expected NAME=DIR" in capsys.readouterr().err


def test_vllm_script_is_found_beside_the_interpreter(tmp_path: Path, monkeypatch) -> None:
    """`make test` and cron jobs run .venv/bin/python without activating the venv."""
    from tunesmith.serve.vllm_backend import vllm_executable

    script = tmp_path / "vllm"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert vllm_executable() == str(script)
    script.unlink()
    assert vllm_executable() is None


def test_serve_log_level_sets_uvicorn_and_tunesmith_loggers(monkeypatch) -> None:
    import argparse
    import logging

    from tunesmith.cli.serve_cmd import server_log_level

    logger = logging.getLogger("tunesmith")
    monkeypatch.setattr(logger, "level", logger.level)  # restored after the test
    assert server_log_level(argparse.Namespace(log_level=None, logging_level=None)) == "info"
    assert server_log_level(argparse.Namespace(log_level=None, logging_level="debug")) == "debug"
    assert server_log_level(argparse.Namespace(log_level="warning", logging_level="debug")) == (
        "warning"
    )
    assert logger.level == logging.WARNING
    assert not logging.getLogger("tunesmith.access").isEnabledFor(logging.INFO)
