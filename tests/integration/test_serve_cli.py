"""`tunesmith serve` (SIGTERM drain), `generate` and `chat` end to end on the tiny base."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serve_process import BASE, serve_process

from tunesmith.cli.main import main

THREADS = ["--threads", "1"]
LONG_STREAM = {
    "model": BASE,
    "prompt": "The tag of time",
    "max_tokens": 300,
    "ignore_eos": True,
    "temperature": 0,
    "stream": True,
}


@pytest.fixture(autouse=True)
def restore_threads():
    """`--threads 1` sets torch's thread count for this process: put it back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_sigterm_drains_in_flight_and_refuses_new_with_503() -> None:
    options = ("--drain-seconds", "60", "--log-level", "warning")
    with serve_process(*options) as (url, proc):
        with httpx.stream("POST", url + "/v1/completions", json=LONG_STREAM, timeout=60) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line).startswith("data: {")
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while httpx.get(url + "/ready").status_code != 503:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            r503 = httpx.post(url + "/v1/completions", json={**LONG_STREAM, "stream": False})
            rest = [line for line in lines if line]
        assert r503.status_code == 503
        assert r503.json()["error"]["code"] == "server_draining"
        assert rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][6:])["choices"][0]["finish_reason"] == "length"
        assert proc.wait(30) == 0


def test_sigterm_past_the_drain_deadline_cuts_each_stream_with_an_error_then_exits_0() -> None:
    body = {**LONG_STREAM, "max_tokens": 2000}
    with serve_process("--drain-seconds", "1", "--log-level", "info") as (url, proc):
        streams = [
            httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) for _ in range(3)
        ]
        lines = [s.__enter__().iter_lines() for s in streams]
        for it in lines:
            assert next(line for line in it if line).startswith("data: {")
        proc.send_signal(signal.SIGTERM)
        with ThreadPoolExecutor(len(lines)) as pool:
            rests = list(pool.map(lambda it: [line for line in it if line], lines))
        for s in streams:
            s.__exit__(None, None, None)
        assert proc.wait(30) == 0
        log = proc.stdout.read()
    for rest in rests:
        assert rest[-1] == "data: [DONE]"
        err = json.loads(rest[-2][6:])["error"]
        assert (err["code"], err["type"]) == ("server_shutdown", "service_unavailable_error")
    assert log.count("drain deadline passed: cut stream cmpl-") == 3, log
    assert "Traceback" not in log and "CancelledError" not in log, log


def test_serve_on_a_busy_port_fails_before_loading_the_model(capsys) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # a model that does not exist: the port is checked first, so its error comes first
        assert main(["serve", "--model", "no/such/model", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: port {port} is in use (Address already in use on 127.0.0.1:")
    assert "no/such/model" not in err


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
