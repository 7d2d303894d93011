"""The server's access log: one line per request with id, model, tokens, latency, status;
the token counts equal the response's `usage`, streamed or not."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tunesmith.config.schema import ModelConfig
from tunesmith.inference import Engine
from tunesmith.inference.async_engine import AsyncEngine
from tunesmith.log import LogSettings, logging_session
from tunesmith.models.load import load_model_and_tokenizer
from tunesmith.serve.access_log import TokenTally, uvicorn_logging
from tunesmith.serve.app import build_app
from tunesmith.serve.state import ServerSettings, ServerState

GREEDY = {"temperature": 0, "max_tokens": 6, "ignore_eos": True}
CHAT = {"model": "tiny", "messages": [{"role": "user", "content": "Hello there"}], **GREEDY}


@pytest.fixture(scope="module")
def model_and_tok():
    return load_model_and_tokenizer(ModelConfig(name_or_path="tiny-llama"))


def make_client(model_and_tok, **settings: object) -> TestClient:  # noqa: ANN001
    model, tok = model_and_tok
    engine = AsyncEngine(Engine(model, max_batch=4))
    state = ServerState(engine, tok, {"tiny": None}, ServerSettings(**settings))
    return TestClient(build_app(state))


@pytest.fixture
def client(model_and_tok, one_thread) -> Iterator[TestClient]:
    with make_client(model_and_tok) as c:
        yield c


@pytest.fixture
def access(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="tunesmith.access")
    return caplog


def lines(caplog: pytest.LogCaptureFixture, path: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tunesmith.access" and r.args[1] == path]


def test_chat_line_has_id_model_tokens_latency_status(client, access):
    body = client.post("/v1/chat/completions", json={**CHAT, "n": 2}).json()
    [line] = lines(access, "/v1/chat/completions")
    assert line.levelno == logging.INFO
    assert line.getMessage() == "POST /v1/chat/completions"
    assert (line.request_id, line.model, line.status) == (body["id"], "tiny", 200)
    usage = body["usage"]
    assert (line.prompt_tokens, line.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert usage["completion_tokens"] == 12  # 2 choices x 6 tokens
    assert 0 < line.latency_s < 60


def test_a_stream_logs_the_tokens_usage_would_count(client, access):
    twin = client.post("/v1/chat/completions", json=CHAT).json()
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
        events = [x for x in r.iter_lines() if x.startswith("data: {")]
    first = json.loads(events[0].removeprefix("data: "))
    chat = lines(access, "/v1/chat/completions")
    assert len(chat) == 2
    assert chat[1].request_id == first["id"] != chat[0].request_id
    assert (chat[1].prompt_tokens, chat[1].completion_tokens) == (
        twin["usage"]["prompt_tokens"],
        twin["usage"]["completion_tokens"],
    )


def test_completions_with_several_prompts_count_each_prompt_once(client, access):
    req = {"model": "tiny", "prompt": ["one two", "three four five six"], "n": 2, **GREEDY}
    body = client.post("/v1/completions", json=req).json()
    [line] = lines(access, "/v1/completions")
    assert line.request_id == body["id"]
    assert (line.prompt_tokens, line.completion_tokens) == (
        body["usage"]["prompt_tokens"],
        body["usage"]["completion_tokens"],
    )
    assert line.completion_tokens == 4 * 6


def test_errors_and_probes(client, access):
    r = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "nope"}, headers={"X-Request-ID": "abc-1"}
    )
    assert r.status_code == 404
    [line] = lines(access, "/v1/chat/completions")
    assert (line.request_id, line.model, line.status) == ("abc-1", "nope", 404)
    assert not hasattr(line, "prompt_tokens")
    client.get("/health")
    [probe] = lines(access, "/health")
    assert probe.levelno == logging.DEBUG and probe.status == 200
    assert not hasattr(probe, "model") and not hasattr(probe, "request_id")


def test_rejected_requests_are_logged(model_and_tok, one_thread, access):
    with make_client(model_and_tok, api_key="secret") as c:
        assert c.get("/v1/models").status_code == 401
    [line] = lines(access, "/v1/models")
    assert line.getMessage() == "GET /v1/models" and line.status == 401


def test_json_line_on_the_configured_handlers(client, tmp_path):
    log_file = tmp_path / "server.log"
    with logging_session(LogSettings(level="info", json=True, file=str(log_file))):
        body = client.post("/v1/chat/completions", json=CHAT).json()
        client.get("/metrics")  # DEBUG: not written at level info
    records = [json.loads(x) for x in log_file.read_text().splitlines()]
    assert len(records) == 1
    record = records[0]
    assert set(record) == {
        "time", "level", "logger", "message", "request_id", "model", "status", "latency_s",
        "prompt_tokens", "completion_tokens",
    }  # fmt: skip
    assert record["message"] == "POST /v1/chat/completions"
    assert (record["level"], record["logger"]) == ("info", "tunesmith.access")
    assert record["request_id"] == body["id"] and record["completion_tokens"] == 6


def test_uvicorn_goes_through_the_same_handlers_once_configured():
    assert uvicorn_logging() == {"access_log": False}
    with logging_session(LogSettings()):
        assert uvicorn_logging() == {"access_log": False, "log_config": None}


def test_tally_keeps_a_bounded_number_of_requests():
    from tunesmith.inference.request import RequestOutput

    tally = TokenTally(limit=2)
    outs = [RequestOutput(f"cmpl-{i}-0-0", [1, 2], [3], "stop", stop_token_id=9) for i in range(3)]
    tally.observe(outs)
    assert tally.take("cmpl-0") is None  # dropped: never taken, oldest
    assert tally.take("cmpl-2") == (2, 2) and tally.take("cmpl-2") is None
