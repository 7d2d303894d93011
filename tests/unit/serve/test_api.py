"""A live server driven by the official openai client: exact answers, streams, usage."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest
from serve_helpers import (
    ADAPTER_CONTENT,
    ANSWER_TOKENS,
    CONTENT,
    REASONING,
    live_server,
)

CHAT = [{"role": "user", "content": "What is the tag of time?"}]
PROMPT_TOKENS = 4  # <bos> <User> ... the scripted tokenizer: "What is the tag of time?" ...


@pytest.fixture(scope="module")
def server(scripted) -> Iterator[tuple[str, object]]:
    model_dir, adapter_dir = scripted
    with live_server(model_dir, [f"great={adapter_dir}"]) as live:
        yield live


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="unused", max_retries=0)


def _prompt_tokens(server, messages=CHAT) -> int:
    r = httpx.post(server[0] + "/tokenize", json={"messages": messages})
    return r.json()["count"]


def test_chat_splits_reasoning_and_counts_usage(client, server) -> None:
    r = client.chat.completions.create(model="scripted", messages=CHAT, temperature=0)
    choice = r.choices[0]
    assert choice.message.content == CONTENT
    assert choice.message.reasoning_content == REASONING
    assert choice.finish_reason == "stop"
    n = _prompt_tokens(server)
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (n, ANSWER_TOKENS)
    assert r.usage.total_tokens == n + ANSWER_TOKENS
    assert r.model == "scripted" and r.id.startswith("chatcmpl-")


def test_request_model_picks_the_adapter(client) -> None:
    base = client.chat.completions.create(model="scripted", messages=CHAT, temperature=0)
    lora = client.chat.completions.create(model="great", messages=CHAT, temperature=0)
    assert (base.choices[0].message.content, lora.choices[0].message.content) == (
        CONTENT,
        ADAPTER_CONTENT,
    )
    assert lora.choices[0].message.reasoning_content == REASONING
    cards = client.models.list().data
    assert [(m.id, m.root) for m in cards] == [("scripted", "scripted"), ("great", "great")]


def test_chat_stream_deltas_and_usage(client, server) -> None:
    chunks = list(
        client.chat.completions.create(
            model="great",
            messages=CHAT,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
    content = "".join(d.content or "" for d in deltas)
    assert (reasoning, content) == (REASONING, ADAPTER_CONTENT)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == ANSWER_TOKENS
    assert chunks[-1].usage.prompt_tokens == _prompt_tokens(server)


def test_raw_stream_ends_with_done(server) -> None:
    body = {"model": "scripted", "prompt": " water", "max_tokens": 3, "stream": True}
    with httpx.stream("POST", server[0] + "/v1/completions", json=body) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    texts = [json.loads(line[6:])["choices"][0]["text"] for line in lines[:-1]]
    assert "".join(texts) == " world water world"


def test_completion_stop_string_batch_prompts_and_n(client) -> None:
    r = client.completions.create(
        model="scripted", prompt=[" water", " world"], max_tokens=4, temperature=0, stop=[" water"]
    )
    assert [(c.index, c.text, c.finish_reason) for c in r.choices] == [
        (0, " world", "stop"),
        (1, "", "stop"),
    ]
    r = client.completions.create(model="scripted", prompt=" world", max_tokens=2, n=2, seed=3)
    assert [c.index for c in r.choices] == [0, 1]
    assert r.usage.prompt_tokens == 1 and r.usage.completion_tokens == 4


def test_echo_logprobs_in_the_lm_eval_format(client) -> None:
    # lm-evaluation-harness local-completions sends token ids, echo, logprobs, max_tokens 1
    r = client.completions.create(
        model="scripted",
        prompt=[870, 1189, 870],
        max_tokens=1,
        temperature=0,
        echo=True,
        logprobs=1,
    )
    c = r.choices[0]
    assert c.text == " water world water world"
    lp = c.logprobs
    assert lp.tokens == [" water", " world", " water", " world"]
    assert lp.text_offset == [0, 6, 12, 18]
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert all(v == pytest.approx(0.0, abs=1e-3) for v in lp.token_logprobs[1:])
    assert [list(t) for t in lp.top_logprobs[1:]] == [[" world"], [" water"], [" world"]]
    assert r.usage.prompt_tokens == 3 and r.usage.completion_tokens == 1


def test_chat_logprobs(client) -> None:
    r = client.chat.completions.create(
        model="scripted", messages=CHAT, temperature=0, logprobs=True, top_logprobs=2
    )
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == "<think>\nThe time is</think>wrong."
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)


def test_tokenize_detokenize_health_ready(server) -> None:
    url = server[0]
    ids = httpx.post(url + "/tokenize", json={"prompt": " water world"}).json()["tokens"]
    assert ids == [870, 1189]
    assert httpx.post(url + "/detokenize", json={"tokens": ids}).json() == {
        "prompt": " water world"
    }
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    assert httpx.get(url + "/ready").json()["status"] == "ready"


def test_metrics_count_tokens_and_finish_reasons(client, server) -> None:
    url, state = server
    before = httpx.get(url + "/metrics").text
    client.completions.create(model="scripted", prompt=" water", max_tokens=5, temperature=0)
    after = httpx.get(url + "/metrics").text

    def value(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    gen = 'tunesmith:generation_tokens_total{model_name="scripted"}'
    length = 'tunesmith:request_success_total{finished_reason="length",model_name="scripted"}'
    assert value(after, gen) - value(before, gen) == 5
    assert value(after, length) - value(before, length) == 1
    for name in (
        "tunesmith:time_to_first_token_seconds_count",
        "tunesmith:inter_token_latency_seconds_count",
        "tunesmith:e2e_request_latency_seconds_count",
        "tunesmith:request_queue_time_seconds_count",
        "tunesmith:kv_cache_usage_perc",
        "tunesmith:num_requests_running",
        "tunesmith:num_requests_waiting",
    ):
        assert name in after


def test_logit_bias_keys_become_token_ids() -> None:
    from tunesmith.serve.generation import sampling_params
    from tunesmith.serve.protocol import CompletionRequest

    req = CompletionRequest(model="m", prompt="a", logit_bias={"5": -100, "7": 2.5})
    params = sampling_params(req, max_tokens=1, eos_id=None)
    assert params.logit_bias == {5: -100.0, 7: 2.5} and params.adjusts_logits
