"""Every error status with its OpenAI-shaped body; overload, disconnects, timeouts, failures."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from serve_helpers import live_server, wait_until

from tunesmith.serve.state import ServerSettings

CHAT = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
LONG = {"model": "scripted", "prompt": " water", "max_tokens": 2000, "temperature": 0}


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.fixture(scope="module")
def server(scripted):
    with live_server(scripted[0], max_batch=2) as live:
        yield live


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        (
            {**CHAT, "max_tokens": 5000},
            "max_tokens",
            "context_length_exceeded",
            "This model's maximum context length is 2048 tokens. However, you requested 5004 "
            "tokens (4 in the prompt, 5000 in the completion)",
        ),
        (
            {**CHAT, "temperature": 3},
            "temperature",
            "invalid_value",
            "'temperature': Input should be less than or equal to 2",
        ),
        ({**CHAT, "top_p": 0}, "top_p", "invalid_value", "'top_p': Input should be greater than 0"),
        (
            {**CHAT, "max_tokens": "many"},
            "max_tokens",
            "invalid_value",
            "'max_tokens': Input should be a valid integer",
        ),
        (
            {**CHAT, "messages": []},
            "messages",
            "invalid_value",
            "'messages': List should have at least 1 item",
        ),
        (
            {**CHAT, "messages": [{"role": "robot", "content": "x"}]},
            "messages.0.role",
            "invalid_value",
            "'messages.0.role': Input should be",
        ),
        ({"model": "scripted", "prompt": ""}, "prompt", None, "the prompt is empty"),
        (
            {"model": "scripted", "prompt": [5, 99999]},
            "prompt",
            None,
            "token id 99999 is outside the vocabulary",
        ),
        (
            {**CHAT, "logit_bias": {"5": 101}},
            "logit_bias",
            None,
            "'logit_bias' maps token ids >= 0 to values in [-100, 100], got 5: 101.0",
        ),
        (
            {**CHAT, "logit_bias": {"five": 1}},
            "logit_bias",
            "invalid_value",
            "'logit_bias' keys must be token ids (integers as strings), got 'five'",
        ),
        (
            {**CHAT, "logit_bias": {"99999": 1}},
            "logit_bias",
            None,
            "'logit_bias' token id 99999 is outside the vocabulary",
        ),
        (
            {"model": "scripted", "prompt": "a", "suffix": "b"},
            "suffix",
            "unsupported_parameter",
            "'suffix' (insertion) is not supported",
        ),
        (
            {"model": "scripted", "prompt": "a", "best_of": 3, "n": 2},
            "best_of",
            "unsupported_parameter",
            "'best_of' larger than 'n' is not supported",
        ),
        (
            {**CHAT, "functions": [{"name": "f"}]},
            "functions",
            "unsupported_parameter",
            "'functions' (deprecated) is not supported: send 'tools'",
        ),
        (
            {**CHAT, "response_format": {"type": "json_object"}},
            "response_format",
            "unsupported_parameter",
            "'response_format' of type 'json_object' is not supported (only 'text')",
        ),
        (
            {"model": "scripted", "prompt": "a", "echo": True, "logprobs": 1, "stream": True},
            "logprobs",
            "unsupported_parameter",
            "'echo' with 'logprobs' is not supported when streaming: send stream=false",
        ),
    ],
)
def test_400_bad_requests(server, body, param, code, message) -> None:
    path = "/v1/chat/completions" if "messages" in body else "/v1/completions"
    err = _error(httpx.post(server[0] + path, json=body), 400)
    assert message in err["message"]
    assert (err["param"], err["code"], err["type"]) == (param, code, "invalid_request_error")


def test_400_not_json_404_unknown_model_and_route(server) -> None:
    url = server[0]
    err = _error(
        httpx.post(
            url + "/v1/completions",
            content=b"{not json",
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert err["message"].startswith("the request body is not valid JSON")
    err = _error(httpx.post(url + "/v1/chat/completions", json={**CHAT, "model": "gpt-9"}), 404)
    assert err == {
        "message": "The model 'gpt-9' does not exist (served: scripted)",
        "type": "not_found_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert _error(httpx.get(url + "/v1/nothing"), 404)["message"] == "Not Found"
    assert _error(httpx.get(url + "/v1/completions"), 405)["message"] == "Method Not Allowed"


def test_openai_client_sees_the_errors(server) -> None:
    client = openai.OpenAI(base_url=server[0] + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="scripted", messages=CHAT["messages"], max_tokens=5000)
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=CHAT["messages"])


def test_401_without_the_key_health_stays_open(scripted) -> None:
    with live_server(scripted[0], settings=ServerSettings(api_key="s3cret")) as (url, _):
        err = _error(httpx.post(url + "/v1/chat/completions", json=CHAT), 401)
        assert (err["type"], err["code"]) == ("authentication_error", "invalid_api_key")
        bad = {"Authorization": "Bearer s3cres"}
        _error(httpx.post(url + "/v1/chat/completions", json=CHAT, headers=bad), 401)
        _error(httpx.get(url + "/v1/models"), 401)
        assert httpx.get(url + "/health").status_code == 200
        ok = openai.OpenAI(base_url=url + "/v1", api_key="s3cret", max_retries=0)
        assert ok.chat.completions.create(**CHAT, max_tokens=2).choices[0].message


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


ABORTED = 'tunesmith:request_success_total{finished_reason="abort",model_name="scripted"}'


def test_429_when_full_then_disconnects_free_the_slots_and_it_recovers(scripted) -> None:
    settings = ServerSettings(max_queue=1)  # capacity: 2 slots + 1 waiting
    with live_server(scripted[0], max_batch=2, settings=settings) as (url, state):
        streams, responses = [], []
        for _ in range(3):
            s = httpx.stream("POST", url + "/v1/completions", json={**LONG, "stream": True})
            responses.append(s.__enter__())
            streams.append(s)
        wait_until(lambda: state.engine.num_running == 2 and state.engine.num_waiting == 1)
        r = httpx.post(url + "/v1/completions", json={**LONG, "max_tokens": 2})
        err = _error(r, 429)
        assert r.headers["retry-after"] == "1"
        assert (err["type"], err["code"]) == ("rate_limit_error", "queue_full")
        assert _metric(url, "tunesmith:kv_cache_usage_perc") == 1.0
        for s in streams:  # the clients go away mid-stream
            s.__exit__(None, None, None)
        wait_until(lambda: state.admission.in_flight == 0 and not state.engine.engine.requests)
        assert state.engine.engine.cache.num_free == 2
        wait_until(lambda: _metric(url, ABORTED) == 3)
        assert _metric(url, "tunesmith:num_requests_running") == 0
        r = httpx.post(url + "/v1/completions", json={**LONG, "max_tokens": 2})
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == " world water"


def test_non_streaming_disconnect_cancels(server) -> None:
    url, state = server
    before = _metric(url, ABORTED)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url + "/v1/completions", json=LONG, timeout=httpx.Timeout(5, read=0.3))
    wait_until(lambda: _metric(url, ABORTED) == before + 1)
    wait_until(lambda: state.admission.in_flight == 0)
    assert state.engine.engine.cache.num_free == 2


def test_504_timeout_and_stream_error_event(scripted) -> None:
    settings = ServerSettings(request_timeout_s=0.3)
    with live_server(scripted[0], settings=settings) as (url, state):
        err = _error(httpx.post(url + "/v1/completions", json=LONG), 504)
        assert (err["type"], err["code"]) == ("timeout_error", "timeout")
        with httpx.stream("POST", url + "/v1/completions", json={**LONG, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line]
        assert lines[-1] == "data: [DONE]"
        assert json.loads(lines[-2][6:])["error"]["code"] == "timeout"
        wait_until(lambda: not state.engine.engine.requests)
        assert state.engine.engine.cache.num_free == 4


def test_mid_stream_failure_sends_an_error_event_then_done(scripted) -> None:
    with live_server(scripted[0]) as (url, state):
        calls = {"n": 0}

        def fail_later(*_):  # noqa: ANN002
            calls["n"] += 1
            if calls["n"] > 3:
                raise RuntimeError("the GPU caught fire")

        handle = state.engine.engine.model.register_forward_pre_hook(fail_later)
        with httpx.stream("POST", url + "/v1/completions", json={**LONG, "stream": True}) as r:
            lines = [line for line in r.iter_lines() if line]
        assert r.status_code == 200 and lines[-1] == "data: [DONE]"
        err = json.loads(lines[-2][6:])["error"]
        assert err["type"] == "internal_server_error"
        assert "the GPU caught fire" in err["message"]
        err = _error(httpx.post(url + "/v1/completions", json=LONG), 500)
        assert "the GPU caught fire" in err["message"]
        handle.remove()
        assert state.engine.engine.cache.num_free == 4
        r = httpx.post(url + "/v1/completions", json={**LONG, "max_tokens": 1})
        assert r.json()["choices"][0]["text"] == " world"


def test_503_while_draining(scripted) -> None:
    with live_server(scripted[0]) as (url, state):
        body = {**LONG, "stream": True, "max_tokens": 300}
        with httpx.stream("POST", url + "/v1/completions", json=body) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line)
            drained = asyncio.run_coroutine_threadsafe(state.admission.drain(30), state.loop)
            wait_until(lambda: state.admission.draining)
            err = _error(httpx.post(url + "/v1/completions", json=LONG), 503)
            assert (err["type"], err["code"]) == ("service_unavailable_error", "server_draining")
            _error(httpx.get(url + "/ready"), 503)
            assert httpx.get(url + "/health").status_code == 200
            rest = [line for line in lines if line]  # the in-flight one finishes
        assert first.startswith("data: ") and rest[-1] == "data: [DONE]"
        assert json.loads(rest[-2][6:])["choices"][0]["finish_reason"] == "length"
        assert drained.result(30) is True
