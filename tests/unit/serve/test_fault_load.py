"""Fault-injected load: extreme sampling values mixed into batches of normal requests.

On the tiny DeepSeek-V3 base (random weights, so greedy outputs are long and distinct),
8 KV slots, concurrency 24: every normal request (greedy, streamed or not) gets exactly the
text it gets when sent alone; every poisoned one gets a 4xx naming its field (or, streamed
past its first event, an OpenAI error event and `data: [DONE]`); no 5xx; nothing leaked.
"""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from serve_helpers import live_server, wait_until

from tunesmith.serve.state import ServerSettings

MODEL = "tiny"
PROMPTS = ["The tag of time is", "Water", "a b c d", "Planets and stars", "1 2 3", "Hello!"]
NORMAL = {"model": MODEL, "max_tokens": 10, "temperature": 0, "ignore_eos": True}
POISON = [  # (extra fields, raw JSON body tail or None, the field the 4xx names)
    ({"repetition_penalty": 1e-300}, None, "repetition_penalty"),  # inf logits: engine
    ({"repetition_penalty": 1e-300, "temperature": 0.7}, None, "repetition_penalty"),
    ({"temperature": 1e300}, None, "temperature"),
    ({}, '"temperature": NaN', "temperature"),
    ({}, '"top_p": -Infinity', "top_p"),
    ({}, '"frequency_penalty": Infinity', "frequency_penalty"),
    ({"seed": 2**70}, None, "seed"),
    ({"logit_bias": {"5": 1e300}}, None, "logit_bias"),
    ({"max_tokens": 10**30}, None, "max_tokens"),
    ({"n": 10**20}, None, "n"),
    ({"top_k": -(2**70)}, None, "top_k"),
    ({"prompt": [-1]}, None, "prompt"),
    ({"prompt": [2**64]}, None, "prompt"),
]
EXTREME_BUT_VALID = {"temperature": 1e-300, "top_p": 1e-300, "seed": -(2**63)}


def _body(prompt: str, extra: dict, raw: str | None, stream: bool) -> dict | bytes:
    body = {**NORMAL, "prompt": prompt, **extra, "stream": stream}
    if raw is None:
        return body
    return (json.dumps(body)[:-1] + ", " + raw + "}").encode()


async def _send(client: httpx.AsyncClient, body: dict | bytes) -> tuple[int, str, dict | None]:
    """(status, text generated, error object or None)."""
    kw = {"content": body, "headers": {"content-type": "application/json"}}
    r = await client.post("/v1/completions", **(kw if isinstance(body, bytes) else {"json": body}))
    if r.status_code != 200:
        return r.status_code, "", r.json()["error"]
    if r.headers["content-type"].startswith("text/event-stream"):
        assert r.text.endswith("data: [DONE]\n\n"), r.text
        events = [json.loads(x[6:]) for x in r.text.split("\n\n") if x.startswith("data: {")]
        errors = [e["error"] for e in events if "error" in e]
        text = "".join(c["text"] for e in events if "choices" in e for c in e["choices"])
        return 200, text, errors[0] if errors else None
    return 200, r.json()["choices"][0]["text"], None


async def _load(url: str, jobs: list[tuple[str, dict | bytes]]) -> list[tuple[int, str, dict]]:
    gate = asyncio.Semaphore(24)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(body: dict | bytes) -> tuple[int, str, dict | None]:
            async with gate:
                return await _send(client, body)

        return await asyncio.gather(*(one(body) for _, body in jobs))


@pytest.fixture(scope="module")
def server():
    with live_server(
        "tiny-deepseek-v3-base", max_batch=8, settings=ServerSettings(), served_name=MODEL
    ) as live:
        yield live


def test_poisoned_requests_get_4xx_and_their_neighbours_their_solo_answer(server) -> None:
    url, state = server
    alone = {
        p: asyncio.run(_load(url, [("normal", _body(p, {}, None, False))]))[0] for p in PROMPTS
    }
    assert all(status == 200 and len(text) > 0 for status, text, _ in alone.values())
    rng = random.Random(0)
    jobs: list[tuple[str, dict | bytes, str]] = []
    for i in range(160):
        prompt, stream = rng.choice(PROMPTS), rng.random() < 0.5
        kind = rng.choices(["normal", "poison", "extreme"], [0.6, 0.3, 0.1])[0]
        extra, raw = {}, None
        if kind == "poison":
            extra, raw, _ = POISON[i % len(POISON)]
        elif kind == "extreme":
            extra = EXTREME_BUT_VALID
        jobs.append((kind, _body(prompt, extra, raw, stream), prompt))
    results = asyncio.run(_load(url, [(k, b) for k, b, _ in jobs]))

    fives = [r for r in results if r[0] >= 500]
    wrong = [
        (k, r) for (k, _, p), r in zip(jobs, results, strict=True)
        if k != "poison" and (r[0], r[1], r[2]) != (200, alone[p][1], None)
    ]  # fmt: skip
    poisoned = [(b, r) for (k, b, _), r in zip(jobs, results, strict=True) if k == "poison"]
    refused = [r for _, r in poisoned if 400 <= r[0] < 500]
    in_stream = [r for _, r in poisoned if r[0] == 200]
    counts = {k: sum(j[0] == k for j in jobs) for k in ("normal", "extreme", "poison")}
    print(
        f"fault load: {len(jobs)} requests ({counts}); poisoned: {len(refused)} refused with "
        f"4xx, {len(in_stream)} with an error event; 5xx: {len(fives)}"
    )
    assert not fives
    assert not wrong, wrong[:3]
    assert len(refused) + len(in_stream) == len(poisoned) > 30
    for body, (_, _, error) in poisoned:
        assert error is not None and error["type"] == "invalid_request_error", body
    assert {r[2]["param"] for _, r in poisoned} == {p for _, _, p in POISON}
    assert all(r[2]["param"] == "repetition_penalty" for r in in_stream)
    wait_until(lambda: state.admission.in_flight == 0 and not state.engine.engine.requests)
    assert state.engine.engine.cache.num_free == 8
    sample = state.metrics.registry.get_sample_value
    assert not [
        s for s in ("500", "503", "504") if sample("tunesmith:http_responses_total", {"status": s})
    ]
