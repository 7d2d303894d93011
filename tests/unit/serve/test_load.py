"""Load: 500 requests at concurrency 32, 10% malformed, 5% clients that disconnect.

Zero 5xx; every malformed request a 4xx; every well-formed one the exact scripted answer;
no slot, queue place or engine request left behind.
"""

from __future__ import annotations

import asyncio
import json
import random

import httpx
from serve_helpers import CONTENT, REASONING, live_server, wait_until

from tunesmith.serve.state import ServerSettings

CHAT = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
MALFORMED = [
    {**CHAT, "temperature": "hot"},
    {**CHAT, "model": "missing"},
    {**CHAT, "messages": []},
    {**CHAT, "max_tokens": 10**6},
    {"model": "scripted", "prompt": ""},
    b"{broken",
]


async def _one(client: httpx.AsyncClient, kind: str, rng: random.Random) -> tuple[str, int]:
    if kind == "malformed":
        body = rng.choice(MALFORMED)
        path = (
            "/v1/completions"
            if isinstance(body, dict) and "prompt" in body
            else ("/v1/chat/completions")
        )
        kw = {"content": body} if isinstance(body, bytes) else {"json": body}
        r = await client.post(path, **kw)
        return kind, r.status_code
    if kind == "disconnect":  # read the first event, then hang up
        body = {"model": "scripted", "prompt": " water", "max_tokens": 500, "stream": True}
        async with client.stream("POST", "/v1/completions", json=body) as r:
            async for line in r.aiter_lines():
                if line:
                    break
        return kind, r.status_code
    stream = kind == "stream"
    r = await client.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    if r.status_code != 200:
        return kind, r.status_code
    if stream:
        events = [json.loads(x[6:]) for x in r.text.split("\n\n") if x.startswith("data: {")]
        deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
        content = "".join(d.get("content") or "" for d in deltas)
        reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
        ok = (content, reasoning) == (CONTENT, REASONING) and r.text.endswith("data: [DONE]\n\n")
    else:
        msg = r.json()["choices"][0]["message"]
        ok = (msg["content"], msg["reasoning_content"]) == (CONTENT, REASONING)
    return kind, 200 if ok else -1


async def _run(url: str, kinds: list[str]) -> list[tuple[str, int]]:
    rng = random.Random(0)
    gate = asyncio.Semaphore(32)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def bounded(kind: str) -> tuple[str, int]:
            async with gate:
                return await _one(client, kind, rng)

        return await asyncio.gather(*(bounded(k) for k in kinds))


def test_500_requests_32_concurrent_with_malformed_and_disconnecting(scripted) -> None:
    rng = random.Random(1)
    kinds = ["malformed"] * 50 + ["disconnect"] * 25 + ["plain"] * 213 + ["stream"] * 212
    rng.shuffle(kinds)
    settings = ServerSettings(max_queue=64)
    with live_server(scripted[0], max_batch=8, settings=settings) as (url, state):
        results = asyncio.run(_run(url, kinds))
        statuses = [s for _, s in results]
        assert not [s for s in statuses if s >= 500]
        assert all(400 <= s < 500 for k, s in results if k == "malformed")
        assert all(s == 200 for k, s in results if k in ("plain", "stream", "disconnect"))
        wait_until(lambda: state.admission.in_flight == 0 and not state.engine.engine.requests)
        engine = state.engine.engine
        assert engine.cache.num_free == 8 and engine.num_running == engine.num_waiting == 0
        labels = {"finished_reason": "abort", "model_name": "scripted"}
        sample = state.metrics.registry.get_sample_value
        wait_until(lambda: sample("tunesmith:request_success_total", labels) == 25)
