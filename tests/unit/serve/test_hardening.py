"""Hostile and careless clients: integers out of range, NaN, the Authorization scheme, 500s
counted, a disconnect logged as 499, and the drain deadline cutting open requests."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from serve_helpers import live_server, wait_until

from tunesmith.serve.shutdown import drain
from tunesmith.serve.state import ServerSettings

CHAT = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
LONG = {"model": "scripted", "prompt": " water", "max_tokens": 2000, "temperature": 0}


def _error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def server(scripted):
    with live_server(scripted[0], max_batch=2) as live:
        yield live


@pytest.mark.parametrize(
    ("path", "body", "param", "message"),
    [
        ("/v1/completions", {"prompt": [-1]}, "prompt", "token id -1 is outside the vocabulary"),
        ("/v1/completions", {"prompt": [[5, 2**70]]}, "prompt", f"token id {2**70} is outside"),
        ("/v1/completions", {"prompt": "a", "seed": 2**64}, "seed", "less than or equal to"),
        ("/v1/chat/completions", {"seed": -(2**63) - 1}, "seed", "greater than or equal to"),
        ("/v1/chat/completions", {"n": 2**70}, "n", "less than or equal to 16"),
        ("/v1/chat/completions", {"max_tokens": 2**70}, "max_tokens", "maximum context length"),
        ("/v1/completions", {"prompt": "a", "max_tokens": -1}, "max_tokens", "greater than"),
        ("/v1/chat/completions", {"top_logprobs": 2**70}, "top_logprobs", "less than or equal"),
        ("/v1/completions", {"prompt": "a", "logprobs": -(2**70)}, "logprobs", "greater than"),
        ("/v1/chat/completions", {"logit_bias": {str(2**70): 1}}, "logit_bias", "outside"),
        ("/v1/chat/completions", {"top_k": -1}, "top_k", "greater than or equal to 0"),
        ("/detokenize", {"tokens": [2**70]}, "tokens", f"token id {2**70} is outside"),
        ("/detokenize", {"tokens": [-5]}, "tokens", "token id -5 is outside"),
    ],
)
def test_integers_out_of_range_are_400_naming_the_field(server, path, body, param, message):
    full = body if path == "/detokenize" else {**CHAT, **body}
    if "prompt" in body:
        full.pop("messages")
    err = _error(httpx.post(server[0] + path, json=full), 400)
    assert err["param"] == param and message in err["message"], err


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
@pytest.mark.parametrize("field", ["temperature", "top_p", "repetition_penalty"])
def test_nan_and_infinities_are_400_naming_the_field(server, field, value) -> None:
    body = json.dumps(CHAT)[:-1] + f', "{field}": {value}}}'
    headers = {"content-type": "application/json"}
    r = httpx.post(server[0] + "/v1/chat/completions", content=body, headers=headers)
    assert _error(r, 400)["param"] == field


def test_a_poisoned_request_is_400_and_its_stream_an_error_event(server) -> None:
    """Repetition penalty 1e-300 turns positive logits into inf: that request fails alone."""
    url = server[0]
    body = {"model": "scripted", "prompt": " water world", "repetition_penalty": 1e-300}
    err = _error(httpx.post(url + "/v1/completions", json=body), 400)
    assert (err["param"], err["code"]) == ("repetition_penalty", "invalid_value")
    assert "make its next-token distribution non-finite" in err["message"]
    with httpx.stream("POST", url + "/v1/completions", json={**body, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    err = json.loads(lines[-2][6:])["error"]
    assert (err["type"], err["param"]) == ("invalid_request_error", "repetition_penalty")
    r = httpx.post(url + "/v1/completions", json={**body, "temperature": 1e-300, "max_tokens": 2})
    assert _error(r, 400)["param"] == "repetition_penalty"
    r = httpx.post(url + "/v1/completions", json={**LONG, "temperature": 1e-300, "max_tokens": 2})
    assert r.json()["choices"][0]["text"] == " world water"  # below 1e-5: greedy


def test_tokenize_needs_exactly_one_of_prompt_and_messages(server) -> None:
    url = server[0]
    for body in ({}, {"prompt": "a", "messages": CHAT["messages"]}):
        err = _error(httpx.post(url + "/tokenize", json=body), 400)
        assert err["message"] == "give exactly one of 'prompt' and 'messages'"
    assert httpx.post(url + "/tokenize", json={"prompt": "hi"}).json()["count"] == 1


def test_without_max_tokens_a_chat_ends_at_the_context_window(scripted) -> None:
    with live_server(scripted[0], max_model_len=40) as (url, state):
        body = {**CHAT, "ignore_eos": True, "temperature": 0}
        for stream in (False, True):
            r = httpx.post(
                url + "/v1/chat/completions",
                json={**body, "stream": stream, "stream_options": {"include_usage": True}},
            )
            assert r.status_code == 200
            if stream:
                events = [json.loads(x[6:]) for x in r.text.split("\n\n") if x[6:7] == "{"]
                usage = events[-1]["usage"]
                finish = [c.get("finish_reason") for e in events for c in e["choices"]]
                assert finish[-1] == "length"
            else:
                usage = r.json()["usage"]
                assert r.json()["choices"][0]["finish_reason"] == "length"
            assert usage["total_tokens"] == 40 and usage["prompt_tokens"] == 4
        assert state.engine.engine.cache.num_free == 4
        long = {**CHAT, "max_tokens": 37}
        err = _error(httpx.post(url + "/v1/chat/completions", json=long), 400)
        assert (err["code"], err["param"]) == ("context_length_exceeded", "max_tokens")


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("Bearer s3cret", 200),
        ("bearer s3cret", 200),
        ("BEARER  s3cret", 200),
        ("s3cret", 401),
        ("Basic s3cret", 401),
        ("Bearer", 401),
        ("Bearers3cret", 401),
        ("Bearer s3cre", 401),
    ],
)
def test_the_bearer_scheme_in_any_case_and_nothing_else(keyed, header, status) -> None:
    r = httpx.get(keyed + "/v1/models", headers={"Authorization": header})
    assert r.status_code == status, r.text


@pytest.fixture(scope="module")
def keyed(scripted):
    with live_server(scripted[0], settings=ServerSettings(api_key="s3cret")) as (url, _):
        yield url


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def uvicorn_errors():
    handler = _Records()
    logger = logging.getLogger("uvicorn.error")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_a_500_is_counted_and_logged_once_without_uvicorn_traceback(
    scripted, caplog, uvicorn_errors
) -> None:
    caplog.set_level(logging.INFO, logger="tunesmith")
    with live_server(scripted[0]) as (url, state):

        def fail(*_):  # noqa: ANN002
            raise RuntimeError("the GPU caught fire")

        handle = state.engine.engine.model.register_forward_pre_hook(fail)
        err = _error(httpx.post(url + "/v1/completions", json=LONG), 500)
        handle.remove()
        assert err["type"] == "internal_server_error" and "the GPU caught fire" in err["message"]
        assert _metric(url, 'tunesmith:http_responses_total{status="500"}') == 1
    access = [r for r in caplog.records if r.name == "tunesmith.access"]
    assert [r.status for r in access if r.args[1] == "/v1/completions"] == [500]
    assert not [r for r in uvicorn_errors if "Exception in ASGI application" in r.getMessage()]


def test_a_non_streaming_disconnect_is_a_499_cancellation(scripted, caplog, uvicorn_errors):
    caplog.set_level(logging.INFO, logger="tunesmith")
    with live_server(scripted[0], max_batch=2) as (url, state):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url + "/v1/completions", json=LONG, timeout=httpx.Timeout(5, read=0.3))
        wait_until(lambda: state.admission.in_flight == 0 and not state.engine.engine.requests)
        assert state.engine.engine.cache.num_free == 2
        wait_until(lambda: _metric(url, 'tunesmith:http_responses_total{status="499"}') == 1)
        assert _metric(url, 'tunesmith:http_responses_total{status="500"}') == 0
        wait_until(lambda: any(r.name == "tunesmith.access" for r in caplog.records))
    access = [r for r in caplog.records if r.name == "tunesmith.access"]
    assert [r.status for r in access if r.args[1] == "/v1/completions"] == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in uvicorn_errors if "Exception in ASGI application" in r.getMessage()]


def test_the_drain_deadline_cuts_open_requests_with_an_error(scripted, caplog) -> None:
    caplog.set_level(logging.INFO, logger="tunesmith")
    with live_server(scripted[0], max_batch=4) as (url, state), ThreadPoolExecutor(1) as pool:
        streams = [
            httpx.stream("POST", url + "/v1/completions", json={**LONG, "stream": True})
            for _ in range(2)
        ]
        lines = [s.__enter__().iter_lines() for s in streams]
        for it in lines:
            assert next(line for line in it if line).startswith("data: {")
        waiting = pool.submit(httpx.post, url + "/v1/completions", json=LONG, timeout=30)
        wait_until(lambda: state.engine.num_running == 3)
        done = asyncio.run_coroutine_threadsafe(drain(state, 0.5), state.loop)
        rests = [[line for line in it if line] for it in lines]
        for s in streams:
            s.__exit__(None, None, None)
        assert done.result(30) is False
        for rest in rests:
            assert rest[-1] == "data: [DONE]"
            err = json.loads(rest[-2][6:])["error"]
            assert (err["type"], err["code"]) == ("service_unavailable_error", "server_shutdown")
            assert "drain deadline passed" in err["message"]
        err = _error(waiting.result(30), 503)
        assert err["code"] == "server_shutdown"
        wait_until(lambda: not state.engine.engine.requests)
        assert state.engine.engine.cache.num_free == 4 and state.admission.in_flight == 0
    cut = [r.getMessage() for r in caplog.records if "drain deadline passed: cut" in r.getMessage()]
    assert sorted(m.split(" cmpl-")[0] for m in cut) == [
        "drain deadline passed: cut request",
        "drain deadline passed: cut stream",
        "drain deadline passed: cut stream",
    ]
